"""Where the buttons live: Properties > Render > Postpass, and Image Editor > Sidebar (N) > Postpass tab."""
from __future__ import annotations

import bpy

from . import images, tasks


class RENDER_PT_postpass(bpy.types.Panel):
    bl_label = "Postpass"
    bl_space_type = "PROPERTIES"
    bl_region_type = "WINDOW"
    bl_context = "render"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        scene = context.scene
        settings = scene.postpass

        column = layout.column(heading="Denoise")
        column.prop(settings, "denoise_on_render", text="On Render")
        sub = column.column()
        sub.active = settings.denoise_on_render
        sub.prop(settings, "denoise_model")
        if settings.denoise_on_render and scene.render.image_settings.media_type != "MULTI_LAYER_IMAGE":
            box = layout.box()
            box.label(text="Albedo and normal passes are written only to OpenEXR MultiLayer", icon="ERROR")
            box.operator("postpass.setup_render_output")

        column = layout.column()
        column.prop(settings, "upres_on_render", expand=True)
        if settings.upres_on_render != "1":
            render, scale = scene.render, int(settings.upres_on_render)
            width = render.resolution_x * render.resolution_percentage // 100
            height = render.resolution_y * render.resolution_percentage // 100
            column.label(text=f"Renders {width} x {height}, writes {width * scale} x {height * scale}", icon="INFO")
            column.prop(settings, "upres_model")

        column = layout.column(heading="Inbetween")
        column.prop(scene, "frame_step", text="Render Every Nth Frame")
        column.prop(settings, "inbetween_on_render", text="Skipped Frames")
        sub = column.column()
        sub.active = settings.inbetween_on_render
        sub.prop(settings, "inbetween_model")
        if settings.inbetween_on_render and scene.frame_step == 1:
            sub.label(text="Set a frame step above 1 to skip frames", icon="INFO")

        column = layout.column()
        column.prop(settings, "precision")
        column.prop(settings, "output_mode")
        column.label(text=f"Originals kept in '{tasks.ORIGINALS_FOLDER}/'" if settings.output_mode == "REPLACE"
                     else f"Results in '{tasks.RESULTS_FOLDER}/'", icon="FILE_FOLDER")


class IMAGE_PT_postpass(bpy.types.Panel):
    bl_label = "Postpass"
    bl_space_type = "IMAGE_EDITOR"
    bl_region_type = "UI"
    bl_category = "Postpass"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.postpass
        image = context.space_data.image
        if image is None:
            layout.label(text="Open an image or the Render Result", icon="INFO")
            return
        layout.label(text=image.name, icon="RENDER_RESULT" if image.type == images.RENDER_RESULT else "IMAGE_DATA")
        editable = image.type not in (images.RENDER_RESULT, images.MULTILAYER)
        in_place = settings.in_place and editable
        row = layout.row()
        row.enabled = editable
        row.prop(settings, "in_place")
        layout.prop(settings, "precision")

        box = layout.box()
        box.prop(settings, "denoise_model", text="Denoise")
        op = box.operator("postpass.denoise", icon="SHADERFX")
        op.model, op.precision, op.in_place = settings.denoise_model, settings.precision, in_place

        box = layout.box()
        box.prop(settings, "upres_model", text="Up-res")
        row = box.row(align=True)
        for scale in (2, 4):
            op = row.operator("postpass.upres", text=f"Up-res x{scale}", icon="FULLSCREEN_ENTER")
            op.scale, op.model, op.precision, op.in_place = scale, settings.upres_model, settings.precision, in_place

        box = layout.box()
        box.prop(settings, "colorize_model", text="Colorize")
        row = box.row(align=True)
        row.prop(settings, "hint_image")
        row.operator("postpass.new_hint_image", text="", icon="ADD")
        box.prop(settings, "hint_mask")
        op = box.operator("postpass.colorize", icon="COLOR")
        op.hints = settings.hint_image.name if settings.hint_image else ""
        op.mask = settings.hint_mask.name if settings.hint_mask else ""
        op.model, op.precision, op.in_place = settings.colorize_model, settings.precision, in_place

        box = layout.box()
        box.prop(settings, "inbetween_model", text="Inbetween")
        box.prop(settings, "inbetween_factor")
        column = box.column()
        column.enabled = image.source in ("SEQUENCE", "FILE") and bool(image.filepath)
        op = column.operator("postpass.inbetween", text="Inbetween Sequence", icon="SEQUENCE")
        op.factor, op.model, op.precision = settings.inbetween_factor, settings.inbetween_model, settings.precision


classes = (RENDER_PT_postpass, IMAGE_PT_postpass)
