//! The pure billing domain of billcenter: money and the rounding contract, billing days and
//! months, the catalog and its price models, rating, the deduction waterfall, ledger
//! transactions, account standing and monthly invoices.
//!
//! Architecture invariant: this crate does no I/O, has no async, never reads the clock and
//! knows nothing of storage or wire formats. Time and state are passed in; results come out.

pub mod account;
pub mod bill;
pub mod catalog;
pub mod deduction;
pub mod invoice;
pub mod ledger;
pub mod money;
pub mod pack;
pub mod package;
pub mod period;
pub mod rating;
pub mod tax_invoice;

pub use account::{AccountState, Standing, StateChange};
pub use bill::{DailyBill, Expired, SettledLine, Spare, settle_day, settle_day_reusing};
pub use catalog::{
    Aggregation, BillableItem, Catalog, CatalogError, DayPrices, DayRate, Dims, PackOffer, PackagePlan, Price, PriceModel, PriceVersion,
    Quota, RateId, Tier,
};
pub use deduction::{Charge, Deduction, DeductionError, Draw, Funds, Instrument, InstrumentKind};
pub use invoice::{ChargeType, Invoice, InvoiceStatus, LineTotals};
pub use ledger::{Book, Posting, Transaction, TxKind};
pub use money::{Amount, Currency, MoneyError, Quantity, Rounded, RoundingDiscount};
pub use pack::{Pack, PackDraw, PackMilestone, PackPool};
pub use period::{DayRange, Month, Validity};
pub use rating::{Billed, KeyUsage, RatedLine, UnitRate, UsageKey, rate_day, rate_day_into};
pub use tax_invoice::{InvoiceableBalance, TaxInvoiceDecision, TaxInvoiceError, TaxInvoiceKind, TaxInvoiceStatus};
