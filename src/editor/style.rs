//! Salve's look: a calm dark palette (slate, with sage for what is well, amber for what needs an
//! eye, coral for trouble), roomy spacing and two text sizes. Sizes are logical points, so the
//! host's scale factor still applies on top.

use egui::{Color32, CornerRadius, FontFamily, FontId, Stroke, TextStyle, Visuals};

/// The palette.
pub const BACKGROUND: Color32 = Color32::from_rgb(0x1b, 0x1e, 0x24);
pub const PANEL: Color32 = Color32::from_rgb(0x23, 0x27, 0x2f);
pub const FIELD: Color32 = Color32::from_rgb(0x14, 0x16, 0x1b);
pub const TEXT: Color32 = Color32::from_rgb(0xd8, 0xdc, 0xe2);
pub const WEAK_TEXT: Color32 = Color32::from_rgb(0x8a, 0x92, 0x9e);
pub const SAGE: Color32 = Color32::from_rgb(0x5f, 0xb3, 0x8f);
pub const AMBER: Color32 = Color32::from_rgb(0xe0, 0xb0, 0x4a);
pub const CORAL: Color32 = Color32::from_rgb(0xe0, 0x5a, 0x47);

/// Applies the look to `ctx` (once, when the editor opens).
pub fn apply(ctx: &egui::Context) {
    ctx.set_theme(egui::Theme::Dark);
    ctx.style_mut_of(egui::Theme::Dark, |style| {
        let mut v = Visuals::dark();
        v.panel_fill = BACKGROUND;
        v.window_fill = BACKGROUND;
        v.extreme_bg_color = FIELD;
        v.faint_bg_color = PANEL;
        v.override_text_color = Some(TEXT);
        v.selection.bg_fill = SAGE.gamma_multiply(0.55);
        v.selection.stroke = Stroke::new(1.0, SAGE);
        v.hyperlink_color = SAGE;
        v.warn_fg_color = AMBER;
        v.error_fg_color = CORAL;
        let round = CornerRadius::same(4);
        for w in [
            &mut v.widgets.noninteractive,
            &mut v.widgets.inactive,
            &mut v.widgets.hovered,
            &mut v.widgets.active,
            &mut v.widgets.open,
        ] {
            w.corner_radius = round;
        }
        v.widgets.inactive.weak_bg_fill = PANEL;
        v.widgets.inactive.bg_fill = PANEL;
        v.widgets.noninteractive.bg_stroke = Stroke::new(1.0, Color32::from_gray(0x33));
        v.widgets.noninteractive.fg_stroke = Stroke::new(1.0, WEAK_TEXT);
        style.visuals = v;
        style.spacing.item_spacing = egui::vec2(8.0, 6.0);
        style.spacing.button_padding = egui::vec2(8.0, 3.0);
        style.spacing.interact_size.y = 22.0;
        style.text_styles = [
            (
                TextStyle::Heading,
                FontId::new(18.0, FontFamily::Proportional),
            ),
            (TextStyle::Body, FontId::new(13.0, FontFamily::Proportional)),
            (
                TextStyle::Button,
                FontId::new(13.0, FontFamily::Proportional),
            ),
            (
                TextStyle::Small,
                FontId::new(10.5, FontFamily::Proportional),
            ),
            (
                TextStyle::Monospace,
                FontId::new(12.0, FontFamily::Monospace),
            ),
        ]
        .into();
    });
}
