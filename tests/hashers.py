from django.contrib.auth.hashers import PBKDF2PasswordHasher


class FastPBKDF2PasswordHasher(PBKDF2PasswordHasher):
    """Standard PBKDF2 hashes with few iterations: any Django verifies them (the count is in the hash)."""

    iterations = 1000
