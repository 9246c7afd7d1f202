"""sipmeet.storage"""
