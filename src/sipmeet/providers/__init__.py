"""sipmeet.providers"""
