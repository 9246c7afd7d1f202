"""sipmeet.bridge"""
