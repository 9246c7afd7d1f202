"""sipmeet.sdp"""
