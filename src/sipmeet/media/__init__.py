"""sipmeet.media"""
