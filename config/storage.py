from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    """Hashed names for collected files; the plain name for a file not collected yet.

    A page then still renders after a static file is added without running
    collectstatic, and whitenoise serves the file from its finders.
    """

    def stored_name(self, name):
        try:
            return super().stored_name(name)
        except ValueError:
            return name
