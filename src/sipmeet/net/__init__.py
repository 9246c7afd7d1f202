"""sipmeet.net"""
