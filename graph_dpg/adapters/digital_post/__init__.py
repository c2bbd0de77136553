"""adapters.digital_post"""
