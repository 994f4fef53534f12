"""One module per operation; each is what one command does."""
