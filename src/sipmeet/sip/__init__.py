"""sipmeet.sip"""
