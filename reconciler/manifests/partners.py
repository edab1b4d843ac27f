"""Partner knowledge from the seed pages: owned namespaces, naming conventions, standard fields."""

from __future__ import annotations

import re
import unicodedata

DEFAULT_OWNS: dict[str, tuple[str, ...]] = {
    "actioniq": ("AIQ_*",),
    "rokt_calendar": ("rokt:*",),
    "sendbird": ("sendbird_id",),
}


# The custom attributes Rokt Calendar sends for a subscription, exactly as its partner page
# names them (case-sensitive: `rokt:optIn1`). Each holds "<value>/<account hash>" strings.
ROKT_ATTRIBUTES: tuple[str, ...] = (
    "rokt:account_code",
    "rokt:account_id",
    "rokt:account_name",
    "rokt:calendar_code",
    "rokt:calendar_id",
    "rokt:calendar_title",
    "rokt:country_code",
    "rokt:device_name",
    "rokt:geo_country",
    "rokt:optIn1",
    "rokt:optIn2",
    "rokt:source",
    "rokt:subscriber_email",
    "rokt:subscription_id",
    "rokt:subscription_method",
    "rokt:tags",
)
ROKT_PREFIX = "rokt:"
# The custom event Rokt Calendar fires once a user subscribes (its page: "subscribe").
ROKT_SUBSCRIBE_EVENT = "subscribe"
# ActionIQ's audience attributes, AIQ_<Audience ID>_<Split ID>: booleans.
ACTIONIQ_PREFIX = "AIQ_"


# Sendbird's delivery/open tracking event: a String property `status`, SENT when the
# notification is sent and READ when the user opens it (the event fires twice).
SENDBIRD_STATUS_PROPERTY = "status"
SENDBIRD_STATUSES: tuple[str, ...] = ("SENT", "READ")


def actioniq_attribute(audience_id: str, split_id: str) -> str:
    """ActionIQ's convention: one boolean custom attribute per audience split."""
    return f"AIQ_{audience_id}_{split_id}"


# Braze standard profile fields (reference §1.4). Case-sensitive, lower case.
STANDARD_FIELDS: frozenset[str] = frozenset(
    {
        "first_name",
        "last_name",
        "home_city",
        "email",
        "phone",
        "dob",
        "country",
        "language",
        "gender",
        "time_zone",
        "email_subscribe",
        "push_subscribe",
        "subscription_groups",
        "current_location",
        "date_of_first_session",
        "date_of_last_session",
        "marked_email_as_spam_at",
        "email_open_tracking_disabled",
        "email_click_tracking_disabled",
        "push_tokens",
        "facebook",
        "twitter",
        "bio",
        "external_id",
        "user_alias",
        "braze_id",
    }
)

# The type each text-, date- or flag-valued standard field has in Braze (reference §1.4); a
# standard field declared otherwise sends values Braze ignores or refuses.
_TEXT = ("string", "varchar")
STANDARD_TYPES: dict[str, tuple[str, ...]] = {
    **{
        name: _TEXT
        for name in (
            "first_name",
            "last_name",
            "home_city",
            "email",
            "phone",
            "country",
            "language",
            "gender",
            "time_zone",
            "bio",
        )
    },
    "date_of_first_session": ("datetime",),
    "date_of_last_session": ("datetime",),
    "marked_email_as_spam_at": ("datetime",),
    "email_open_tracking_disabled": ("boolean",),
    "email_click_tracking_disabled": ("boolean",),
}

IDENTIFIER_FIELDS = frozenset({"external_id", "user_alias", "braze_id"})

# Subscription state belongs to Braze: writing it needs an explicit opt-in per attribute.
CONSENT_FIELDS = frozenset({"email_subscribe", "push_subscribe", "subscription_groups"})

# Look-alike names that would silently create a custom attribute beside the standard field.
_ALIASES: dict[str, tuple[str, ...]] = {
    "dob": (
        "birthday",
        "birthdate",
        "birth_date",
        "date_of_birth",
        "birth_day",
        "bday",
        "dateofbirth",
        # the French Amperity page's own examples ("anniversaire", "Date de naissance")
        "anniversaire",
        "date_de_naissance",
        "date_naissance",
    ),
    "email": (
        "email_address",
        "emailaddress",
        "e_mail",
        "mail",
        "email_addr",
        # French, as the Amperity page is: "adresses e-mail"
        "courriel",
        "adresse_email",
        "adresse_mail",
        "adresse_e_mail",
    ),
    "phone": (
        "phone_number",
        "phonenumber",
        "mobile",
        "mobile_number",
        "mobile_phone",
        "cell_phone",
        "cellphone",
        "telephone",
        "tel",
        "phone_no",
        # French: "numéros de téléphone"
        "numero_de_telephone",
        "numero_telephone",
        "num_tel",
    ),
    "first_name": (
        "firstname",
        "first",
        "given_name",
        "givenname",
        "fname",
        "forename",
        "prenom",  # French: "prénom"
    ),
    "last_name": (
        "lastname",
        "last",
        "surname",
        "family_name",
        "familyname",
        "lname",
        "nom_de_famille",
    ),
    "home_city": ("city", "hometown", "home_town", "ville"),
    "country": ("country_code", "countrycode", "nation", "pays"),
    "language": ("lang", "language_code", "languagecode", "langue"),
    "gender": ("sex", "sexe"),
    "time_zone": ("timezone", "tz"),
    "email_subscribe": ("email_subscription", "email_opt_in", "email_optin", "email_opted_in"),
    "push_subscribe": ("push_subscription", "push_opt_in", "push_optin"),
    "current_location": ("location", "geo_location", "geolocation"),
}


def _fold(name: str) -> str:
    """Lower case, accents off (`Prénom` → `prenom`), letters and digits only."""
    plain = unicodedata.normalize("NFKD", name.lower())
    return re.sub(r"[^a-z0-9]", "", "".join(c for c in plain if not unicodedata.combining(c)))


_BY_FOLDED: dict[str, str] = {}
for _std, _aliases in _ALIASES.items():
    for _alias in _aliases:
        _BY_FOLDED[_fold(_alias)] = _std
for _std in STANDARD_FIELDS:
    _BY_FOLDED.setdefault(_fold(_std), _std)


def standard_field_for(name: str) -> str | None:
    """The Braze standard field a custom attribute name duplicates, if any.

    `birthday`, `Date of Birth`, `anniversaire`, `Date de naissance` → `dob`; `First_Name` →
    `first_name` (field names are case-sensitive, so a differently-cased standard name becomes
    a custom attribute).
    """
    if name in STANDARD_FIELDS:
        return name
    return _BY_FOLDED.get(_fold(name))
