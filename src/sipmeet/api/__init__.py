"""sipmeet.api"""
