"""The one error type the bag tools raise for anything wrong with a bag or its contents."""


class BagError(RuntimeError):
    """A bag that cannot be used: missing, truncated, corrupt, or without a needed topic.

    The message always names the file (or bag directory) and the problem, so a user
    can act on it without a traceback; the command-line tools print it and exit 2.
    """
