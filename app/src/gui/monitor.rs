//! Monitor: live charts of the selected runs' metrics, overlaid, with EMA
//! smoothing (raw faint, smoothed bold), log scale, linked x axes and a
//! choice of x axis (step, epoch, wall time).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use eframe::egui::{self, Color32};
use egui_plot::{Line, LineStyle, Plot, Points, VLine};
use engine::runs::MetricRecord;

use super::file_dialog::{self, Pick};
use super::metrics_cache::MetricsCache;

/// A plotted quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Training loss.
    Loss,
    /// Validation loss.
    ValLoss,
    /// Validation perplexity.
    ValPpl,
    /// Learning rate.
    Lr,
    /// Gradient norm.
    GradNorm,
    /// Throughput.
    TokensPerS,
    /// Accelerator utilisation (remote runs on GPUs or Trainium), shown when a run has it.
    AcceleratorUtil,
}

impl Metric {
    /// The charts every run has, in display order ([`Metric::AcceleratorUtil`] follows when a run has it).
    pub const ALL: [Metric; 6] = [Metric::Loss, Metric::ValLoss, Metric::ValPpl, Metric::Lr, Metric::GradNorm, Metric::TokensPerS];

    /// Chart title.
    pub fn title(self) -> &'static str {
        match self {
            Metric::Loss => "Training loss",
            Metric::ValLoss => "Validation loss",
            Metric::ValPpl => "Validation perplexity",
            Metric::Lr => "Learning rate",
            Metric::GradNorm => "Gradient norm",
            Metric::TokensPerS => "Tokens / s",
            Metric::AcceleratorUtil => "Accelerator utilisation (%)",
        }
    }

    fn value(self, r: &MetricRecord) -> Option<f64> {
        match self {
            Metric::Loss => r.loss,
            Metric::ValLoss => r.val_loss,
            Metric::ValPpl => r.val_ppl,
            Metric::Lr => r.lr,
            Metric::GradNorm => r.grad_norm,
            Metric::TokensPerS => r.tokens_per_s,
            Metric::AcceleratorUtil => r.extra.get("accelerator_util").and_then(serde_json::Value::as_f64),
        }
    }
}

/// What the x axis shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum XAxis {
    /// Optimizer step.
    Step,
    /// Fractional epoch.
    Epoch,
    /// Seconds of training.
    WallTime,
}

/// A chart line ready to draw: decimated raw and smoothed points, and the
/// 99th percentile of the raw values, for one run, metric and view settings.
#[derive(Clone)]
struct Prepared {
    key: (u64, XAxis, bool, u64),
    /// Checkpoints and early stopping, as (x, label), for the training-loss chart.
    markers: Vec<(f64, String)>,
    raw: Vec<[f64; 2]>,
    smoothed: Option<Vec<[f64; 2]>>,
    p99: Option<f64>,
}

/// The Monitor panel's state.
pub struct Monitor {
    cache: MetricsCache,
    prepared: HashMap<(PathBuf, Metric), Prepared>,
    /// EMA smoothing weight in [0, 1): 0 shows raw values only.
    pub smoothing: f64,
    /// Logarithmic y axes.
    pub log_scale: bool,
    /// The x axis.
    pub x_axis: XAxis,
    /// Clip y values above the 99th percentile, so one spike does not flatten a curve.
    pub clip_outliers: bool,
    /// Where the last CSV export went (or why it failed).
    pub export_notice: Option<String>,
    /// A path typed for exports (empty: choose in a dialog).
    pub export_path: String,
    /// Where the charts were drawn last frame (for the PNG export).
    charts_rect: Option<egui::Rect>,
}

impl Default for Monitor {
    fn default() -> Self {
        Self {
            cache: MetricsCache::default(),
            prepared: HashMap::new(),
            smoothing: 0.6,
            log_scale: false,
            x_axis: XAxis::Step,
            clip_outliers: false,
            export_notice: None,
            export_path: String::new(),
            charts_rect: None,
        }
    }
}

/// A colour per run, stable by position in the selection.
fn run_color(i: usize) -> Color32 {
    const PALETTE: [Color32; 8] = [
        Color32::from_rgb(31, 119, 180),
        Color32::from_rgb(255, 127, 14),
        Color32::from_rgb(44, 160, 44),
        Color32::from_rgb(214, 39, 40),
        Color32::from_rgb(148, 103, 189),
        Color32::from_rgb(140, 86, 75),
        Color32::from_rgb(227, 119, 194),
        Color32::from_rgb(23, 190, 207),
    ];
    PALETTE[i % PALETTE.len()]
}

/// Points per line drawn at most (about two per pixel of a chart); longer
/// series are decimated.
const MAX_POINTS: usize = 1_000;

/// Reduces a series to about `max` points by keeping, for each bucket of
/// consecutive points, its minimum and maximum (so spikes stay visible).
pub fn decimate(points: &[[f64; 2]], max: usize) -> Vec<[f64; 2]> {
    if points.len() <= max || max < 2 {
        return points.to_vec();
    }
    let bucket = points.len().div_ceil(max / 2);
    points
        .chunks(bucket)
        .flat_map(|c| {
            let lo = c.iter().copied().min_by(|a, b| a[1].total_cmp(&b[1])).expect("non-empty chunk");
            let hi = c.iter().copied().max_by(|a, b| a[1].total_cmp(&b[1])).expect("non-empty chunk");
            if lo[0] <= hi[0] { [lo, hi] } else { [hi, lo] }
        })
        .collect()
}

/// The 99th percentile of the y values.
fn p99(points: &[[f64; 2]]) -> Option<f64> {
    let mut ys: Vec<f64> = points.iter().map(|p| p[1]).filter(|y| y.is_finite()).collect();
    if ys.is_empty() {
        return None;
    }
    ys.sort_by(f64::total_cmp);
    Some(ys[((ys.len() - 1) as f64 * 0.99).round() as usize])
}

/// Crops a screenshot to `rect` (in points) and writes it as PNG, atomically.
pub fn save_png(image: &egui::ColorImage, rect: egui::Rect, pixels_per_point: f32, path: &Path) -> Result<(), String> {
    use image::ImageEncoder as _;
    let region = image.region(&rect, Some(pixels_per_point));
    let rgba: Vec<u8> = region.pixels.iter().flat_map(|c| c.to_array()).collect();
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes)
        .write_image(&rgba, region.size[0] as u32, region.size[1] as u32, image::ExtendedColorType::Rgba8)
        .map_err(|e| e.to_string())?;
    engine::atomic::write(path, &bytes).map_err(|e| e.to_string())
}

/// Exponential moving average as TensorBoard does it (debiased).
pub fn ema(points: &[[f64; 2]], weight: f64) -> Vec<[f64; 2]> {
    let mut last = 0.0;
    let mut debias = 1.0;
    points
        .iter()
        .map(|&[x, y]| {
            last = last * weight + (1.0 - weight) * y;
            debias *= weight;
            [x, last / (1.0 - debias).max(1e-12)]
        })
        .collect()
}

impl Monitor {
    /// The raw points of `metric` for `run`, on the chosen x axis.
    pub fn series(&mut self, run: &std::path::Path, metric: Metric) -> Vec<[f64; 2]> {
        let x_axis = self.x_axis;
        self.cache
            .get(run)
            .records
            .iter()
            .filter_map(|r| {
                let x = match x_axis {
                    XAxis::Step => r.step as f64,
                    XAxis::Epoch => r.epoch,
                    XAxis::WallTime => r.elapsed_s,
                };
                // A non-finite value (a diverged step) has no place on a chart; it is marked instead.
                metric.value(r).filter(|y| y.is_finite()).map(|y| [x, y])
            })
            .collect()
    }

    /// The drawable line of `metric` for `run`, recomputed only when the
    /// run's metrics file grew or a view setting changed (frames stay cheap
    /// with long, many-run overlays).
    fn prepare(&mut self, run: &Path, metric: Metric) -> &Prepared {
        let version = self.cache.get(run).len;
        let smooth = self.smoothing > 0.0 && matches!(metric, Metric::Loss | Metric::GradNorm | Metric::TokensPerS);
        let key = (version, self.x_axis, self.log_scale, if smooth { self.smoothing.to_bits() } else { 0 });
        let slot = (run.to_path_buf(), metric);
        if self.prepared.get(&slot).is_none_or(|p| p.key != key) {
            let mut pts = self.series(run, metric);
            if self.log_scale {
                pts.retain(|p| p[1] > 0.0);
                pts.iter_mut().for_each(|p| p[1] = p[1].log10());
            }
            let smoothed = (smooth && pts.len() > 2).then(|| decimate(&ema(&pts, self.smoothing), MAX_POINTS));
            let markers = if metric == Metric::Loss { self.markers(run) } else { Vec::new() };
            let prepared = Prepared { key, markers, p99: p99(&pts), raw: decimate(&pts, MAX_POINTS), smoothed };
            self.prepared.insert(slot.clone(), prepared);
        }
        &self.prepared[&slot]
    }

    /// Checkpoint, early-stopping and divergence positions of `run` on the chosen x axis.
    fn markers(&mut self, run: &Path) -> Vec<(f64, String)> {
        let x_axis = self.x_axis;
        let m = self.cache.get(run);
        let not_finite = |v: Option<f64>| v.is_some_and(|v| !v.is_finite());
        let mut steps: Vec<(usize, &str)> = m.checkpoints.iter().map(|s| (*s, "checkpoints")).collect();
        steps.extend(m.records.iter().filter(|r| not_finite(r.loss) || not_finite(r.grad_norm)).map(|r| (r.step, "not finite")));
        steps.extend(m.early_stop.map(|s| (s, "early stop")));
        steps
            .into_iter()
            .filter_map(|(step, label)| {
                let r = m.records.iter().find(|r| r.step == step)?;
                let x = match x_axis {
                    XAxis::Step => r.step as f64,
                    XAxis::Epoch => r.epoch,
                    XAxis::WallTime => r.elapsed_s,
                };
                Some((x, label.to_string()))
            })
            .collect()
    }

    /// The metrics of `runs` by run name, as the cache holds them.
    pub fn named_metrics(&mut self, runs: &[PathBuf]) -> Vec<(String, Vec<MetricRecord>)> {
        runs.iter()
            .map(|r| (r.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), self.cache.get(r).records.clone()))
            .collect()
    }

    /// Where to export: the typed path, else the one chosen in a dialog (a
    /// dialog that cannot open says why in the notice line).
    fn export_target(&mut self, pick: Pick<'_>) -> Option<PathBuf> {
        if !self.export_path.trim().is_empty() {
            return Some(PathBuf::from(self.export_path.trim()));
        }
        file_dialog::pick(pick).unwrap_or_else(|e| {
            self.export_notice = Some(e);
            None
        })
    }

    /// Draws the controls and the charts of the `selected` runs.
    pub fn ui(&mut self, ui: &mut egui::Ui, selected: &[PathBuf]) {
        if let Some(after) = self.cache.poll(selected) {
            ui.ctx().request_repaint_after(after);
        }
        ui.horizontal_wrapped(|ui| {
            let l = ui.label("Smoothing");
            ui.add(egui::Slider::new(&mut self.smoothing, 0.0..=0.99)).labelled_by(l.id);
            ui.checkbox(&mut self.log_scale, "Log scale");
            ui.label("X axis:");
            ui.selectable_value(&mut self.x_axis, XAxis::Step, "Step");
            ui.selectable_value(&mut self.x_axis, XAxis::Epoch, "Epoch");
            ui.selectable_value(&mut self.x_axis, XAxis::WallTime, "Wall time");
            ui.checkbox(&mut self.clip_outliers, "Clip outliers (p99)");
        });
        ui.horizontal(|ui| {
            let l = ui.label("Export to");
            let edit =
                egui::TextEdit::singleline(&mut self.export_path).hint_text("a path, or empty to choose in a dialog").desired_width(300.0);
            ui.add(edit).labelled_by(l.id);
            let csv = ui.add_enabled(!selected.is_empty(), egui::Button::new("Export CSV")).on_hover_text("the ticked runs' metrics");
            if csv.clicked()
                && let Some(path) = self.export_target(Pick::Save("CSV", &["csv"], "metrics.csv"))
            {
                let runs = self.named_metrics(selected);
                self.export_notice = Some(match engine::runs::metrics::write_csv(&path, &runs) {
                    Ok(()) => format!("wrote {}", path.display()),
                    Err(e) => e.to_string(),
                });
            }
            let can_save = self.charts_rect.is_some() && !selected.is_empty();
            if ui.add_enabled(can_save, egui::Button::new("Save charts as PNG")).clicked()
                && let (Some(path), Some(rect)) = (self.export_target(Pick::Save("PNG", &["png"], "charts.png")), self.charts_rect)
            {
                let ppp = ui.ctx().pixels_per_point();
                self.export_notice = Some(format!("saving {}", path.display()));
                ui.ctx().request_screenshot(move |image| {
                    if let Err(e) = save_png(&image, rect, ppp, &path) {
                        tracing::error!("saving {}: {e}", path.display());
                    }
                });
            }
        });
        if let Some(n) = &self.export_notice {
            ui.label(egui::RichText::new(n).weak());
        }
        if selected.is_empty() {
            ui.label("Select runs in the list on the left to plot them (tick several to overlay).");
            return;
        }
        let link = egui::Id::unique("monitor-x-link");
        // Every chart opens on the training loss's x extent, so sparse series
        // (evaluations) line up with the dense ones.
        let span = selected
            .iter()
            .filter_map(|run| {
                let raw = &self.prepare(run, Metric::Loss).raw;
                Some((raw.first()?[0], raw.last()?[0]))
            })
            .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)));
        legend_ui(ui, selected);
        let mut metrics = Metric::ALL.to_vec();
        if selected.iter().any(|run| !self.prepare(run, Metric::AcceleratorUtil).raw.is_empty()) {
            metrics.push(Metric::AcceleratorUtil);
        }
        let width = ((ui.available_width() - 3.0 * ui.spacing().item_spacing.x) / 2.0).max(200.0);
        let height = ((ui.available_height() - 40.0) / metrics.len().div_ceil(2) as f32).max(120.0);
        let charts = egui::Grid::new("charts").num_columns(2).show(ui, |ui| {
            for (i, metric) in metrics.into_iter().enumerate() {
                ui.vertical(|ui| {
                    ui.strong(metric.title());
                    self.chart(ui, metric, selected, (link, span), width, height);
                });
                if i % 2 == 1 {
                    ui.end_row();
                }
            }
        });
        self.charts_rect = Some(charts.response.rect);
    }

    /// One chart; `x` is the link group of the x axes and the x extent to show.
    fn chart(
        &mut self,
        ui: &mut egui::Ui,
        metric: Metric,
        selected: &[PathBuf],
        x: (egui::Id, Option<(f64, f64)>),
        width: f32,
        height: f32,
    ) {
        let (link, span) = x;
        let lines: Vec<(String, Color32, Prepared)> = selected
            .iter()
            .enumerate()
            .map(|(i, run)| {
                let name = run.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                (name, run_color(i), self.prepare(run, metric).clone())
            })
            .collect();
        let limit = if self.clip_outliers { lines.iter().filter_map(|l| l.2.p99).reduce(f64::max) } else { None };
        let clip = |mut pts: Vec<[f64; 2]>| {
            if let Some(limit) = limit {
                pts.iter_mut().for_each(|p| p[1] = p[1].min(limit));
            }
            pts
        };
        // No legend inside the chart (it covered the curves): one legend row above all charts.
        let mut plot = Plot::new(metric.title()).width(width).height(height).link_axis(link, [true, false]);
        if let Some((lo, hi)) = span {
            plot = plot.include_x(lo).include_x(hi);
        }
        plot.show(ui, |plot| {
            for (name, color, Prepared { raw, smoothed, markers, .. }) in lines {
                for (x, label) in markers {
                    plot.vline(VLine::new(format!("{name} {label}"), x).color(color.gamma_multiply(0.5)).style(LineStyle::dashed_loose()));
                }
                let raw = clip(raw);
                if matches!(metric, Metric::ValLoss | Metric::ValPpl) {
                    // Evaluations are sparse: mark each one.
                    plot.points(Points::new(format!("{name} (evaluations)"), raw.clone()).color(color).radius(3.0));
                }
                match smoothed {
                    Some(smoothed) => {
                        plot.line(Line::new(format!("{name} (smoothed)"), clip(smoothed)).color(color).width(2.0));
                        plot.line(Line::new(name, raw).color(color.gamma_multiply(0.3)));
                    }
                    None => plot.line(Line::new(name, raw).color(color).width(2.0)),
                }
            }
        });
    }
}

/// One legend for all charts, above them: each run's colour and name, and
/// what the line styles mean.
fn legend_ui(ui: &mut egui::Ui, selected: &[PathBuf]) {
    ui.horizontal_wrapped(|ui| {
        for (i, run) in selected.iter().enumerate() {
            let name = run.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let (swatch, _) = ui.allocate_exact_size(egui::vec2(16.0, 4.0), egui::Sense::hover());
            ui.painter().rect_filled(swatch, 0.0, run_color(i));
            ui.label(name);
            ui.add_space(8.0);
        }
        ui.label(
            egui::RichText::new("bold: smoothed, faint: raw, dots: evaluations, dashed: checkpoints, early stop, non-finite steps").weak(),
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimation_keeps_extremes_and_bounds_the_count() {
        let mut pts: Vec<[f64; 2]> = (0..100_000).map(|i| [i as f64, (i % 7) as f64]).collect();
        pts[54_321][1] = 1e6;
        let d = decimate(&pts, 2_000);
        assert!(d.len() <= 2_002, "{}", d.len());
        assert!(d.iter().any(|p| p[1] == 1e6));
        assert!(d.windows(2).all(|w| w[0][0] <= w[1][0]));
    }

    #[test]
    fn png_export_crops_to_the_charts() {
        let dir = tempfile::tempdir().unwrap();
        let mut img = egui::ColorImage::filled([40, 30], Color32::BLACK);
        img.pixels[10 * 40 + 20] = Color32::RED;
        let path = dir.path().join("c.png");
        save_png(&img, egui::Rect::from_min_size(egui::pos2(10.0, 5.0), egui::vec2(10.0, 8.0)), 2.0, &path).unwrap();
        let back = image::load_from_memory(&std::fs::read(&path).unwrap()).unwrap().to_rgba8();
        assert_eq!(back.dimensions(), (20, 16));
        assert_eq!(back.get_pixel(0, 0).0, [255, 0, 0, 255]);
    }

    #[test]
    fn ema_of_a_constant_is_that_constant() {
        let pts: Vec<[f64; 2]> = (0..5).map(|i| [i as f64, 3.0]).collect();
        for p in ema(&pts, 0.9) {
            assert!((p[1] - 3.0).abs() < 1e-9);
        }
    }

    #[test]
    fn ema_follows_the_debiased_recurrence_and_smooths_a_step() {
        // 0, 0, 10, 10: s_t = w s_{t-1} + (1 - w) y_t, divided by 1 - w^t (TensorBoard's debiasing).
        let pts: Vec<[f64; 2]> = [0.0, 0.0, 10.0, 10.0].iter().enumerate().map(|(i, &y)| [i as f64, y]).collect();
        let w: f64 = 0.5;
        let (mut s, mut expected) = (0.0, Vec::new());
        for (t, p) in pts.iter().enumerate() {
            s = w * s + (1.0 - w) * p[1];
            expected.push(s / (1.0 - w.powi(t as i32 + 1)));
        }
        let got: Vec<f64> = ema(&pts, w).iter().map(|p| p[1]).collect();
        for (g, e) in got.iter().zip(&expected) {
            assert!((g - e).abs() < 1e-12, "{got:?} vs {expected:?}");
        }
        assert_eq!((got[0], got[1]), (0.0, 0.0));
        assert!(got[2] > 0.0 && got[2] < 10.0, "the jump is smoothed, not followed: {}", got[2]);
        assert!(got[3] > got[2] && got[3] < 10.0);
        assert_eq!(ema(&pts, 0.0).iter().map(|p| p[1]).collect::<Vec<_>>(), vec![0.0, 0.0, 10.0, 10.0], "weight 0 is the raw series");
    }
}
