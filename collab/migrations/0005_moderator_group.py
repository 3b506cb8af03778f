from django.db import migrations

MODERATOR_PERMISSIONS = [
    ("collab", "document", "view_document"),
    ("collab", "document", "delete_document"),
    ("collab", "document", "lock_document"),
    ("collab", "document", "disconnect_document"),
    ("collab", "document", "remove_member"),
    ("collab", "document", "view_content"),
    ("collab", "membership", "view_membership"),
    ("collab", "report", "view_report"),
    ("collab", "report", "change_report"),
    ("collab", "auditentry", "view_auditentry"),
    ("collab", "account", "view_account"),
    ("collab", "account", "ban_user"),
]


def create_moderator_group(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after migrations; this one needs them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="moderator")
    permissions = [
        Permission.objects.get(content_type__app_label=app, content_type__model=model, codename=codename)
        for app, model, codename in MODERATOR_PERMISSIONS
    ]
    group.permissions.set(permissions)


def remove_moderator_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="moderator").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("collab", "0004_moderation"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_moderator_group, remove_moderator_group)]
