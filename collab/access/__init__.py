"""Who may do what: roles and rights, sharing, sessions, identities, the documents a person
sees.
"""
