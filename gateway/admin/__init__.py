"""The admin pages: login, import models and filters, control files, batches, API keys."""
