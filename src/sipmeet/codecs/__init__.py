"""sipmeet.codecs"""
