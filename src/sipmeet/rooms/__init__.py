"""sipmeet.rooms"""
