"""booksync: the core package shared by every Lambda function (shipped as a layer).

Handlers in functions/ stay thin; what is worth testing lives here: settings, the
PynamoDB models, the error taxonomy, queue messages, the practice API and the sync engine.
"""

__version__ = "0.1.0"
