"""The update log and snapshots, and the connections to PostgreSQL they are read and
written over.
"""
