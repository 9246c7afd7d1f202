"""sipmeet.rtp"""
