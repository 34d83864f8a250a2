//! Monitor: live charts of the selected runs' metrics, overlaid, with EMA
//! smoothing (raw faint, smoothed bold), log scale, linked x axes and a
//! choice of x axis (step, epoch, wall time).

use std::path::PathBuf;

use eframe::egui::{self, Color32};
use egui_plot::{Legend, Line, Plot};
use engine::runs::MetricRecord;

use super::metrics_cache::MetricsCache;

/// A plotted quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}

impl Metric {
    /// All charts, in display order.
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

/// The Monitor panel's state.
pub struct Monitor {
    cache: MetricsCache,
    /// EMA smoothing weight in [0, 1): 0 shows raw values only.
    pub smoothing: f64,
    /// Logarithmic y axes.
    pub log_scale: bool,
    /// The x axis.
    pub x_axis: XAxis,
}

impl Default for Monitor {
    fn default() -> Self {
        Self { cache: MetricsCache::default(), smoothing: 0.6, log_scale: false, x_axis: XAxis::Step }
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
            .iter()
            .filter_map(|r| {
                let x = match x_axis {
                    XAxis::Step => r.step as f64,
                    XAxis::Epoch => r.epoch,
                    XAxis::WallTime => r.elapsed_s,
                };
                metric.value(r).map(|y| [x, y])
            })
            .collect()
    }

    /// Draws the controls and the charts of the `selected` runs.
    pub fn ui(&mut self, ui: &mut egui::Ui, selected: &[PathBuf]) {
        ui.horizontal(|ui| {
            let l = ui.label("Smoothing");
            ui.add(egui::Slider::new(&mut self.smoothing, 0.0..=0.99)).labelled_by(l.id);
            ui.checkbox(&mut self.log_scale, "Log scale");
            ui.label("X axis:");
            ui.selectable_value(&mut self.x_axis, XAxis::Step, "Step");
            ui.selectable_value(&mut self.x_axis, XAxis::Epoch, "Epoch");
            ui.selectable_value(&mut self.x_axis, XAxis::WallTime, "Wall time");
        });
        if selected.is_empty() {
            ui.label("Select runs in the list on the left to plot them (tick several to overlay).");
            return;
        }
        let link = egui::Id::unique("monitor-x-link");
        let width = (ui.available_width() / 2.0 - 8.0).max(200.0);
        let height = ((ui.available_height() - 40.0) / 3.0).max(120.0);
        egui::Grid::new("charts").num_columns(2).show(ui, |ui| {
            for (i, metric) in Metric::ALL.into_iter().enumerate() {
                ui.vertical(|ui| {
                    ui.strong(metric.title());
                    self.chart(ui, metric, selected, link, width, height);
                });
                if i % 2 == 1 {
                    ui.end_row();
                }
            }
        });
    }

    fn chart(&mut self, ui: &mut egui::Ui, metric: Metric, selected: &[PathBuf], link: egui::Id, width: f32, height: f32) {
        let log = self.log_scale;
        let smoothing = self.smoothing;
        let lines: Vec<(String, Color32, Vec<[f64; 2]>)> = selected
            .iter()
            .enumerate()
            .map(|(i, run)| {
                let name = run.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let mut pts = self.series(run, metric);
                if log {
                    pts.retain(|p| p[1] > 0.0);
                    pts.iter_mut().for_each(|p| p[1] = p[1].log10());
                }
                (name, run_color(i), pts)
            })
            .collect();
        Plot::new(metric.title())
            .width(width)
            .height(height)
            .legend(Legend::default())
            .link_axis(link, [true, false])
            .show(ui, |plot| {
                for (name, color, pts) in lines {
                    let smoothed = smoothing > 0.0 && pts.len() > 2 && matches!(metric, Metric::Loss | Metric::GradNorm | Metric::TokensPerS);
                    if smoothed {
                        plot.line(Line::new(format!("{name} (smoothed)"), ema(&pts, smoothing)).color(color).width(2.0));
                        plot.line(Line::new(name, pts).color(color.gamma_multiply(0.3)));
                    } else {
                        plot.line(Line::new(name, pts).color(color).width(2.0));
                    }
                }
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ema_of_a_constant_is_that_constant() {
        let pts: Vec<[f64; 2]> = (0..5).map(|i| [i as f64, 3.0]).collect();
        for p in ema(&pts, 0.9) {
            assert!((p[1] - 3.0).abs() < 1e-9);
        }
    }
}
