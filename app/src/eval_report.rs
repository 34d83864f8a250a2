//! The report of a human evaluation, ready to paste into a review document:
//! `report.md` (the rates table, pairwise verdicts, ranking, agreement,
//! reviewers and held-out perplexity, as the CLI and the Review tab show
//! them) beside its charts as PNG files: each criterion's rate per model
//! with its 95% interval as an error bar, and the models' Elo ratings with
//! their bootstrap intervals. Drawn with plotters into a pixel buffer (text
//! in egui's own font, so no system font is needed), encoded by image.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use engine::human_eval::evaluation::Evaluation;
use engine::human_eval::results::{Loaded, Results};
use plotters::prelude::*;

/// Chart size in pixels.
const SIZE: (u32, u32) = (900, 420);

/// Writes the report of the evaluation in `dir` into the folder `out`
/// (created; files replaced atomically); returns the Markdown file.
pub fn write(dir: &Path, out: &Path) -> Result<PathBuf> {
    let Loaded { eval, ratings, results: r } = Results::load(dir)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut md = markdown(&eval, &r, ratings.latest().len());
    if rates_png(&eval, &r, &out.join("rates.png"))? {
        md = md.replace("<!-- rates -->", "![Rates with 95% intervals](rates.png)");
    }
    if elo_png(&eval, &r, &out.join("ranking.png"))? {
        md = md.replace("<!-- ranking -->", "![Elo ratings with 95% bootstrap intervals](ranking.png)");
    }
    let file = out.join("report.md");
    engine::atomic::write(&file, md.as_bytes())?;
    Ok(file)
}

/// The Markdown text; `<!-- rates -->` and `<!-- ranking -->` mark where the charts go.
fn markdown(eval: &Evaluation, r: &Results, ratings: usize) -> String {
    let report = r.report(eval);
    let reviewers = r.reviewers.len();
    let mut md = format!("# {}\n\n", if eval.title.is_empty() { "Human evaluation" } else { &eval.title });
    let models: Vec<String> = (0..eval.models.len()).map(|m| eval.model_name(m)).collect();
    let _ = writeln!(
        md,
        "{ratings} ratings by {reviewers} reviewer(s) of {} items, blind A/B; models: {}.\n",
        eval.items.len(),
        models.join(", ")
    );
    md.push_str("## Rates (95% Wilson intervals; means with bootstrap intervals)\n\n| model | criterion | result |\n|---|---|---|\n");
    for [model, criterion, value] in &report.rows {
        let _ = writeln!(md, "| {model} | {criterion} | {value} |");
    }
    md.push_str("\n<!-- rates -->\n");
    for (heading, lines) in report.sections() {
        let _ = writeln!(md, "\n## {heading}\n");
        for line in lines {
            let _ = writeln!(md, "- {line}");
        }
        if heading.starts_with("Ranking") {
            md.push_str("\n<!-- ranking -->\n");
        }
    }
    md
}

/// Registers egui's font as plotters' sans-serif (once).
fn font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, epaint_default_fonts::UBUNTU_LIGHT);
    });
}

/// Encodes an RGB buffer as a PNG file (atomically).
fn save_png(buf: Vec<u8>, file: &Path) -> Result<()> {
    let img = image::RgbImage::from_raw(SIZE.0, SIZE.1, buf).context("chart buffer size")?;
    let mut bytes = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)?;
    engine::atomic::write(file, &bytes)?;
    Ok(())
}

/// Colour of model `m`'s bars.
fn color(m: usize) -> RGBColor {
    let (r, g, b) = Palette99::pick(m).to_rgba().rgb();
    RGBColor(r, g, b)
}

/// Binary criteria's rates per model, grouped by criterion, with error bars;
/// false (no file) when nothing binary was rated.
fn rates_png(eval: &Evaluation, r: &Results, file: &Path) -> Result<bool> {
    let Some(rates) = r.rate_bars(eval) else { return Ok(false) };
    font();
    let mut buf = vec![255u8; (SIZE.0 * SIZE.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, SIZE).into_drawing_area();
        let mut chart = ChartBuilder::on(&root)
            .caption("Rate per model (95% intervals)", ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(-0.5f64..rates.criteria.len() as f64 - 0.5, 0f64..125f64)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(rates.criteria.len() * 2 + 1)
            .x_label_formatter(&|x| rates.label_at(*x))
            .y_desc("% yes")
            .y_label_formatter(&|v| if *v <= 100.0 { format!("{v:.0}") } else { String::new() })
            .light_line_style(WHITE)
            .label_style(("sans-serif", 16))
            .draw()?;
        let width = rates.width;
        for (m, bars) in rates.bars.iter().enumerate() {
            let c = color(m);
            chart
                .draw_series(
                    bars.iter()
                        .map(|(x, rate)| Rectangle::new([(x - width * 0.45, 0.0), (x + width * 0.45, rate.rate * 100.0)], c.filled())),
                )?
                .label(eval.model_name(m))
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], c.filled()));
            chart.draw_series(bars.iter().map(|(x, rate)| {
                ErrorBar::new_vertical(*x, rate.low * 100.0, rate.rate * 100.0, rate.high * 100.0, BLACK.stroke_width(2), 10)
            }))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 16))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()?;
        root.present()?;
    }
    save_png(buf, file)?;
    Ok(true)
}

/// Each model's Elo rating with its bootstrap interval, as horizontal error
/// bars; false (no file) without verdicts.
fn elo_png(eval: &Evaluation, r: &Results, file: &Path) -> Result<bool> {
    if r.ranking.is_empty() {
        return Ok(false);
    }
    font();
    let low = r.ranking.iter().map(|s| s.elo.low).fold(f64::INFINITY, f64::min) - 50.0;
    let high = r.ranking.iter().map(|s| s.elo.high).fold(f64::NEG_INFINITY, f64::max) + 50.0;
    let n = r.ranking.len();
    let names_width =
        r.ranking.iter().map(|s| eval.model_name(s.model).chars().count() as u32 * 8 + 24).max().unwrap_or(100).min(SIZE.0 / 2);
    let mut buf = vec![255u8; (SIZE.0 * SIZE.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, SIZE).into_drawing_area();
        let mut chart = ChartBuilder::on(&root)
            .caption("Elo rating (Bradley-Terry, 95% bootstrap intervals)", ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(names_width)
            .build_cartesian_2d(low..high, -0.5f64..n as f64 - 0.5)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n * 2 + 1)
            .y_label_formatter(&|y| {
                let k = y.round();
                if (y - k).abs() < 1e-6 && k >= 0.0 && (k as usize) < n {
                    eval.model_name(r.ranking[k as usize].model)
                } else {
                    String::new()
                }
            })
            .x_desc("Elo (1000 = the average model)")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .light_line_style(WHITE)
            .label_style(("sans-serif", 16))
            .draw()?;
        chart.draw_series(
            r.ranking
                .iter()
                .enumerate()
                .map(|(k, s)| ErrorBar::new_horizontal(k as f64, s.elo.low, s.elo.value, s.elo.high, color(s.model).stroke_width(3), 14)),
        )?;
        chart.draw_series(r.ranking.iter().enumerate().map(|(k, s)| Circle::new((s.elo.value, k as f64), 6, color(s.model).filled())))?;
        root.present()?;
    }
    save_png(buf, file)?;
    Ok(true)
}
