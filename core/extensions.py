"""Flask extensions, created unbound; `create_app` binds each to the application."""

from __future__ import annotations

from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_socketio import SocketIO
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from core.orm import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login = LoginManager()
socketio = SocketIO()
babel = Babel()
csrf = CSRFProtect()
