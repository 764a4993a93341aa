//! The report as HTML: one self-contained page per report (the Chart.js it draws with inlined, its
//! numbers both in tables and as a JSON island the charts read), and the index of latest reports.
//! Templates live in `templates/` and are autoescaped; only the JSON island and the vendored
//! script are inserted as they are.

use minijinja::{Environment, context};
use serde::Serialize;

use super::model::Report;

/// Chart.js 4.6.1, vendored with its license (assets/chartjs/).
const CHART_JS: &str = include_str!("../../assets/chartjs/chart.umd.min.js");

fn templates() -> Environment<'static> {
    let mut env = Environment::new();
    env.add_template("report.html", include_str!("../../templates/report.html")).expect("the report template parses");
    env.add_template("report_index.html", include_str!("../../templates/report_index.html"))
        .expect("the index template parses");
    env
}

/// The report's page.
pub fn render(report: &Report) -> String {
    // The JSON island holds no `<`, `>` or `&` (JSON escapes them): nothing in it can end or change
    // its <script> element.
    let data_json = serde_json::to_string(report)
        .expect("a report serialises")
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    let page = templates().get_template("report.html").expect("added above").render(context! {
        r => report,
        data_json => data_json,
        chart_js => CHART_JS,
        version => crate::VERSION,
    });
    page.expect("the report template renders every report")
}

/// One line of the index: a subject's latest report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexEntry {
    pub subject: String,
    pub ds: String,
    pub link: String,
}

/// The index page.
pub fn render_index(entries: &[IndexEntry]) -> String {
    let page = templates().get_template("report_index.html").expect("added above").render(context! { entries });
    page.expect("the index template renders")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::{Headline, Quality};

    fn empty(subject: &str) -> Report {
        Report {
            subject: subject.into(),
            ds: "2024-05-01".into(),
            headline: Headline::default().derive(),
            per_year: vec![],
            top_authors: vec![],
            distribution: vec![],
            changes: None,
            quality: Quality {
                undated_works: 0,
                authors_without_record: 0,
                merged_authors: 0,
                rejects_by_reason: vec![],
                gate: None,
            },
        }
    }

    #[test]
    fn a_subject_without_dated_works_on_its_first_day_says_so() {
        let page = render(&empty("love"));
        assert!(page.contains("id=\"no-dated\""), "no per-year chart without dated works");
        assert!(page.contains("id=\"first-day\""), "no comparison on a first day");
        assert!(!page.contains("<canvas id=\"chart-per-year\""));
    }

    #[test]
    fn a_previous_day_without_answers_has_no_movers_and_says_so() {
        use crate::report::model::Changes;
        let mut report = empty("love");
        report.changes = Some(Changes {
            previous_ds: "2024-04-30".into(),
            works_added: 2,
            works_removed: 1,
            new_authors: 0,
            movers: None,
        });
        let page = render(&report);
        assert!(page.contains("id=\"no-movers\""), "says who moved cannot be told");
        assert!(!page.contains("id=\"t-movers\""));
        assert!(page.contains("id=\"c-added\">2<"));
    }

    #[test]
    fn the_quality_gate_s_checks_are_listed_or_their_absence_said() {
        let mut report = empty("love");
        assert!(render(&report).contains("id=\"no-gate\""));
        report.quality.gate = Some(crate::report::model::Gate {
            verdict: "warned".into(),
            passed: 1,
            warned: 1,
            accepted: 0,
            checks: vec![
                ("volume.works.last_day".into(), "warn".into(), "works: 180 against 200 (-10.0 %)".into()),
                ("keys.unique".into(), "pass".into(), "every key is unique in its table".into()),
            ],
        });
        let page = render(&report);
        assert!(page.contains("id=\"q-verdict\">warned<"), "{page}");
        assert!(page.contains("<tr class=\"check-warn\"><td class=\"name\">volume.works.last_day</td><td>warn</td>"));
        assert!(!page.contains("id=\"no-gate\""));
    }

    #[test]
    fn names_are_escaped_and_cannot_close_the_script() {
        let mut report = empty("love");
        report.quality.rejects_by_reason = vec![("<b>bold</b> </script><script>alert(1)</script>".into(), 1)];
        let page = render(&report);
        assert!(
            page.contains("&lt;b&gt;bold&lt;&#x2f;b&gt;") || page.contains("&lt;b&gt;bold&lt;/b&gt;"),
            "escaped in HTML"
        );
        let island = page.split("id=\"report-data\">").nth(1).unwrap().split("</script>").next().unwrap();
        assert!(!island.contains('<') && island.contains("\\u003c/script\\u003e"), "{island}");
        let parsed: serde_json::Value = serde_json::from_str(island).unwrap();
        assert_eq!(parsed["quality"]["rejects_by_reason"][0][0], "<b>bold</b> </script><script>alert(1)</script>");
        assert_eq!(page.matches("<script>alert(1)").count(), 0);
    }
}
