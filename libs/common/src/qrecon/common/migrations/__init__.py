"""SQL migrations of ``qrecon.common`` (component ``common``): the Qonto OAuth token store.

Apply with ``load_migrations(MIGRATIONS_COMPONENT, __name__)`` + ``apply_migrations``.
"""

MIGRATIONS_COMPONENT = "common"
