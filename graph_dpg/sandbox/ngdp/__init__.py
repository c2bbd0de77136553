"""sandbox.ngdp"""
