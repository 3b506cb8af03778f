from django.contrib import admin

from .models import Document


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ("title", "owner", "created", "updated", "id")
    list_filter = ("created", "updated")
    search_fields = ("title", "owner__username", "id")
    list_select_related = ("owner",)
    date_hierarchy = "updated"
    readonly_fields = ("id", "created", "updated")
    raw_id_fields = ("owner",)
