//! The overview's daily spend chart: an SVG drawn on the server, one bar per billing day,
//! stacked by billable item, with a title on every segment (day, item, amount).

use std::fmt::Write;

use app::overview::Overview;

use super::i18n::Tr;

/// Colours told apart with the common colour-vision deficiencies (Okabe–Ito), darkened where
/// needed so each has 3:1 contrast against the white background.
const PALETTE: [&str; 8] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#8A6D00", "#56B4E9", "#5D5D5D", "#B8860B"];

pub fn color(index: usize) -> &'static str {
    PALETTE[index % PALETTE.len()]
}

const WIDTH: i64 = 760;
const HEIGHT: i64 = 260;
const LEFT: i64 = 64;
const BOTTOM: i64 = 28;
const TOP: i64 = 12;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A round upper bound for the axis: 1, 2 or 5 times a power of ten, at least `max`.
fn nice_ceiling(max: i64) -> i64 {
    let mut step = 1i64;
    loop {
        for m in [1, 2, 5] {
            if step * m >= max {
                return step * m;
            }
        }
        step *= 10;
    }
}

/// The chart of an overview, in minor units scaled to pixels with integer arithmetic.
pub fn daily_spend(o: &Overview, t: Tr) -> String {
    let cur = o.account.currency;
    let amount = |minor: i64| format!("{} {}", super::money_text(&cur.format(billing::Amount(minor))), cur.code());
    let max = o.daily.iter().map(|(_, v)| v.iter().sum::<i64>()).max().unwrap_or(0).max(1);
    let top = nice_ceiling(max);
    let plot_h = HEIGHT - TOP - BOTTOM;
    let plot_w = WIDTH - LEFT - 8;
    let days = o.daily.len().max(1) as i64;
    let slot = plot_w / days;
    let bar = (slot * 3 / 4).max(1);
    let mut svg = String::new();
    let label = t.f("chart-caption", &[("currency", cur.code())]);
    let _ = write!(
        svg,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
        escape(&label)
    );
    // Grid lines and the axis's amounts.
    for i in 0..=4 {
        let y = TOP + plot_h - plot_h * i / 4;
        let value = top * i / 4;
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{y}" y2="{y}" stroke="#d0d4da" stroke-width="1"/><text x="{}" y="{}" text-anchor="end" font-size="11" fill="#3d4450">{}</text>"##,
            WIDTH - 8,
            LEFT - 6,
            y + 4,
            escape(&super::money_text(&cur.format(billing::Amount(value))))
        );
    }
    let label_every = (days / 8).max(1);
    for (i, (day, values)) in o.daily.iter().enumerate() {
        let x = LEFT + slot * i as i64 + (slot - bar) / 2;
        let mut y = TOP + plot_h;
        let mut title = format!("{day}: {}", amount(values.iter().sum()));
        for (item, v) in o.items.iter().zip(values) {
            if *v > 0 {
                let _ = write!(title, "\n{item}: {}", amount(*v));
            }
        }
        let _ = write!(svg, r#"<g><title>{}</title>"#, escape(&title));
        for (k, v) in values.iter().enumerate() {
            if *v <= 0 {
                continue;
            }
            let h = (v * plot_h / top).max(1);
            y -= h;
            let _ = write!(svg, r#"<rect x="{x}" y="{y}" width="{bar}" height="{h}" fill="{}"/>"#, color(k));
        }
        svg.push_str("</g>");
        if i as i64 % label_every == 0 {
            let _ = write!(
                svg,
                r##"<text x="{}" y="{}" text-anchor="middle" font-size="11" fill="#3d4450">{}</text>"##,
                x + bar / 2,
                HEIGHT - 10,
                day.strftime("%m-%d")
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_axis_ends_on_a_round_amount() {
        assert_eq!(super::nice_ceiling(1), 1);
        assert_eq!(super::nice_ceiling(3), 5);
        assert_eq!(super::nice_ceiling(1_234), 2_000);
        assert_eq!(super::nice_ceiling(50_001), 100_000);
        assert_eq!(super::nice_ceiling(500_000), 500_000);
    }
}
