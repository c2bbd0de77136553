"""The lowest layer: the exception tree and rules shared by the MeMo library and the domain. Pure."""
