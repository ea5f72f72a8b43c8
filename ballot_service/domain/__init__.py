"""Pure rules of the campaign. Nothing here imports Flask or the database."""
