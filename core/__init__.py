"""The shared ground every domain stands on; it imports nothing above it.

Extensions (db, socketio, ...), the ORM base, accounts and organisations, errors, validation, money,
storage, the API's shapes and OpenAPI helpers, the strict JSON reader, jobs and the scheduler, labels and
language selection, and the access check that socket handlers use. `bidding`, `guarantees` and `signing`
import from here and never from `app`, which is the web application on top (the factory, pages, the
authorisation table, the CLI). A job worker imports the ground and the domains; tests/unit/test_layers.py
keeps the direction.
"""
