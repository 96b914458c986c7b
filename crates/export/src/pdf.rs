//! The monthly invoice as a PDF: an A4 document laid out by typst from a fixed template, with
//! the invoice's data given as input (never spliced into the template's text), Noto Sans CJK SC
//! as its only font (so Chinese names render) and only the glyphs used embedded. Rendering is
//! deterministic: no creation time, and a document identifier derived from the invoice itself,
//! so the same invoice gives the same bytes every time.

use std::sync::LazyLock;

use serde::Serialize;
use typst::foundations::{Dict, IntoValue, Smart};
use typst_as_lib::TypstEngine;
use typst_layout::PagedDocument;

static TEMPLATE: &str = include_str!("../templates/invoice.typ");
static REGULAR: &[u8] = include_bytes!("../fonts/NotoSansSC-Regular.otf");
static BOLD: &[u8] = include_bytes!("../fonts/NotoSansSC-Bold.otf");

/// The template and its fonts, parsed once per process.
static ENGINE: LazyLock<TypstEngine<typst_as_lib::TypstTemplateMainFile>> =
    LazyLock::new(|| TypstEngine::builder().main_file(TEMPLATE).fonts([REGULAR, BOLD]).build());

#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("the invoice template failed: {0}")]
    Template(String),
    #[error("the PDF writer failed: {0}")]
    Writer(String),
}

/// Who issues the invoice, from the operator's configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Issuer {
    pub name: String,
    pub address: String,
    pub tax_id: String,
}

/// One invoice as printed. Amounts are display text in the currency's digits, with thousands
/// grouped (`1,234.56`); the rounding discount keeps its exact decimals.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct InvoiceDocument {
    pub issuer: Issuer,
    pub account_id: String,
    pub account_name: String,
    pub currency: String,
    pub time_zone: String,
    /// `issued`, `paid` or `provisional` (a provisional invoice carries a watermark).
    pub status: String,
    /// Empty while provisional.
    pub number: String,
    /// The issue day in the account's zone; empty while provisional.
    pub issued_on: String,
    pub month: String,
    /// First and last day of the billing month.
    pub period: (String, String),
    pub workspaces: Vec<WorkspaceLines>,
    /// The month: gross, rounding discount, coupons, prepaid cards, cash, arrears.
    pub totals: Amounts,
    pub outstanding: String,
    pub invoiceable: String,
    pub cards_total: String,
    /// Cards bought in the month: code, face value, day bought.
    pub cards: Vec<(String, String, String)>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct WorkspaceLines {
    pub workspace: String,
    pub lines: Vec<InvoiceLine>,
    pub subtotal: Amounts,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct InvoiceLine {
    /// The billable item's (or package's) code, and the name a reader knows it by.
    pub item: String,
    pub item_name: String,
    pub charge_type: String,
    pub amounts: Amounts,
}

/// The money columns of an invoice line, a subtotal or the month.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Amounts {
    pub gross: String,
    pub rounding_discount: String,
    pub coupons: String,
    pub prepaid_cards: String,
    pub cash: String,
    pub arrears: String,
}

/// Renders the invoice as PDF bytes.
pub fn invoice_pdf(doc: &InvoiceDocument) -> Result<Vec<u8>, PdfError> {
    let data = serde_json::to_string(doc).expect("an invoice document is plain data");
    let mut inputs = Dict::new();
    inputs.insert("data".into(), data.into_value());
    let compiled: PagedDocument = ENGINE.compile_with_input(inputs).output.map_err(|e| PdfError::Template(e.to_string()))?;
    let options = typst_pdf::PdfOptions {
        ident: Smart::Custom(format!("billcenter invoice {} {} {}", doc.account_id, doc.month, doc.number)),
        creator: Smart::Custom(Some("billcenter".into())),
        timestamp: None,
        ..typst_pdf::PdfOptions::default()
    };
    typst_pdf::pdf(&compiled, &options).map_err(|e| PdfError::Writer(format!("{e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amounts(gross: &str) -> Amounts {
        Amounts {
            gross: gross.into(),
            rounding_discount: "0.0041".into(),
            coupons: "0.00".into(),
            prepaid_cards: "0.00".into(),
            cash: gross.into(),
            arrears: "0.00".into(),
        }
    }

    pub(crate) fn sample(status: &str) -> InvoiceDocument {
        let line = |item: &str, gross: &str| InvoiceLine {
            item: item.into(),
            item_name: item.replace('_', " "),
            charge_type: "pay_as_you_go".into(),
            amounts: amounts(gross),
        };
        InvoiceDocument {
            issuer: Issuer {
                name: "云栖计算有限公司".into(),
                address: "1 Harbour Road, Hangzhou".into(),
                tax_id: "91330100MA2B3C4D5E".into(),
            },
            account_id: "acme".into(),
            account_name: "杭州云帆科技有限公司".into(),
            currency: "CNY".into(),
            time_zone: "Asia/Shanghai".into(),
            status: status.into(),
            number: if status == "provisional" { String::new() } else { "INV-2026-11-000042".into() },
            issued_on: if status == "provisional" { String::new() } else { "2026-12-04".into() },
            month: "2026-11".into(),
            period: ("2026-11-01".into(), "2026-11-30".into()),
            workspaces: vec![WorkspaceLines {
                workspace: "ws-prod".into(),
                lines: vec![line("ecs.vcpu_hours", "1,234.56"), line("oss.storage_gb_days", "78.90")],
                subtotal: amounts("1,313.46"),
            }],
            totals: amounts("1,313.46"),
            outstanding: "0.00".into(),
            invoiceable: "1,313.46".into(),
            cards_total: "0.00".into(),
            cards: vec![],
        }
    }

    #[test]
    fn the_same_invoice_gives_the_same_bytes() {
        let a = invoice_pdf(&sample("issued")).unwrap();
        let b = invoice_pdf(&sample("issued")).unwrap();
        assert!(a.starts_with(b"%PDF-"));
        assert_eq!(a, b);
        assert!(a.len() < 300 * 1024, "{} bytes", a.len());
        let other = invoice_pdf(&sample("provisional")).unwrap();
        assert_ne!(a, other);
    }
}
