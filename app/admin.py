"""The administrator's pages: organisations and the users who act for them."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import PasswordField, SelectChoice, SelectField, StringField

from core import organisations
from core.accounts import create_user
from core.extensions import db
from core.labels import KINDS, ROLES
from core.models import Organisation, OrganisationKind, Role, User
from core.validation import ValidationError

bp = Blueprint("admin", __name__, url_prefix="/admin")


class OrganisationForm(FlaskForm):
    name = StringField(_l("Name"))
    # The service checks kind and role and names the field in its message (validate_choice=False).
    kind = SelectField(_l("Kind"), choices=[SelectChoice(k.value, KINDS[k]) for k in OrganisationKind],
                       validate_choice=False)
    credit_code = StringField(_l("Unified social credit code"))
    region = StringField(_l("Region code"))


class UserForm(FlaskForm):
    username = StringField(_l("Username"))
    display_name = StringField(_l("Name"))
    password = PasswordField(_l("Password"))
    role = SelectField(_l("Role"), choices=[SelectChoice(r.value, ROLES[r]) for r in Role],
                       validate_choice=False)
    organisation_id = SelectField(_l("Organisation"), coerce=int)


@bp.get("/organisations", endpoint="organisations")
def organisations_page():
    orgs = db.session.scalars(select(Organisation).order_by(Organisation.name)).all()
    return render_template("admin/organisations.html", organisations=orgs)


@bp.route("/organisations/new", methods=["GET", "POST"])
def organisation_new():
    form = OrganisationForm()
    error = None
    if request.method == "POST" and form.validate_on_submit():
        try:
            org = organisations.register(name=form.name.data, kind=form.kind.data,
                                         credit_code=form.credit_code.data, region=form.region.data)
        except ValidationError as exc:
            db.session.rollback()
            error = exc
        else:
            db.session.commit()
            flash(_("Organisation %(name)s registered.", name=org.name), "success")
            return redirect(url_for("admin.organisations"))
    status = 422 if error or form.errors else 200
    return render_template("admin/organisation_form.html", form=form, error=error), status


@bp.get("/users")
def users():
    people = db.session.scalars(select(User).order_by(User.username)).all()
    return render_template("admin/users.html", users=people)


@bp.route("/users/new", methods=["GET", "POST"])
def user_new():
    form = UserForm()
    form.organisation_id.choices = [SelectChoice(0, "—")] + [
        SelectChoice(o.id, o.name)
        for o in db.session.scalars(select(Organisation).order_by(Organisation.name))]
    error = None
    if request.method == "POST" and form.validate_on_submit():
        try:
            chosen = form.organisation_id.data
            org = db.session.get(Organisation, chosen) if chosen else None
            user = create_user(username=form.username.data, display_name=form.display_name.data,
                               password=form.password.data, role=form.role.data, organisation=org)
        except ValidationError as exc:
            db.session.rollback()
            error = exc
        else:
            db.session.commit()
            flash(_("User %(name)s created.", name=user.username), "success")
            return redirect(url_for("admin.users"))
    status = 422 if error or form.errors else 200
    return render_template("admin/user_form.html", form=form, error=error), status
