"""services.ports"""
