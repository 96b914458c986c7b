//! Property tests of the money invariants of the pure core.

use std::collections::BTreeMap;

use billing::ledger::Transaction;
use billing::rating::round_line;
use billing::{
    Amount, Charge, Currency, Draw, Funds, Instrument, InstrumentKind, Price, PriceModel, Quantity, RoundingDiscount, Tier, Validity,
};
use jiff::ToSpan;
use jiff::civil::{Date, date};
use proptest::prelude::*;
use rust_decimal::Decimal;

fn cny() -> Currency {
    Currency::parse("CNY").unwrap()
}

fn base() -> Date {
    date(2026, 11, 1)
}

fn instrument() -> impl Strategy<Value = Instrument> {
    (0..3u8, 1..500i64, 0..10_000i64, -5..5i32, 0..20i32, any::<bool>(), any::<bool>()).prop_map(
        |(kind, id, balance, from, len, scoped, active)| {
            let kind = [InstrumentKind::RegularCoupon, InstrumentKind::DiscountCoupon, InstrumentKind::PrepaidCard][kind as usize];
            let from_day = base().checked_add(from.days()).unwrap();
            Instrument {
                kind,
                id,
                balance: Amount(balance),
                validity: Validity::new(from_day, from_day.checked_add(len.days()).unwrap()).unwrap(),
                scope: scoped.then(|| ["log_events".to_owned()].into()),
                active,
            }
        },
    )
}

fn charge() -> impl Strategy<Value = (i32, u8, i64, bool)> {
    (0..10i32, 0..3u8, 0..5_000i64, any::<bool>())
}

/// Instruments of one account: ids are unique (coupons and cards share one sequence).
fn instruments(max: usize) -> impl Strategy<Value = Vec<Instrument>> {
    prop::collection::vec(instrument(), 0..max).prop_map(|mut v| {
        for (i, x) in v.iter_mut().enumerate() {
            x.id = x.id * 100 + i as i64;
        }
        v
    })
}

const ITEMS: [&str; 3] = ["log_events", "sms", "time_series"];

/// A charge of `charge()`'s parts: days after `base()`, an item of `ITEMS`, an amount and
/// whether coupons may pay it.
fn to_charge((day, item, amount, eligible): (i32, u8, i64, bool)) -> Charge<'static> {
    Charge { day: base().checked_add(day.days()).unwrap(), item: ITEMS[item as usize], coupon_eligible: eligible, amount: Amount(amount) }
}

proptest! {
    /// Any sequence of charges against any funds: each line is paid exactly (coupon + card +
    /// cash + arrears), no instrument goes below zero, instruments only pay inside their
    /// validity, and what left the funds is exactly what the lines were paid with.
    #[test]
    fn waterfall_pays_exactly_and_never_overdraws(
        instruments in instruments(8),
        cash in -1_000..5_000i64,
        charges in prop::collection::vec(charge(), 1..12),
    ) {
        let mut funds = Funds { instruments: instruments.clone(), cash: Amount(cash) };
        let before: Amount = funds.instruments.iter().map(|i| i.balance).sum::<Amount>() + funds.cash;
        let mut paid = Amount::ZERO;
        let (mut deductions, mut draws) = (Vec::new(), Vec::new());
        for parts in charges {
            let (charge, eligible) = (to_charge(parts), parts.3);
            let snapshot = funds.clone();
            let drawn_before = draws.len();
            let d = funds.deduct(&charge, true, &mut draws).unwrap();
            prop_assert_eq!(d.total(), charge.amount);
            prop_assert!(d.coupon >= Amount::ZERO && d.card >= Amount::ZERO && d.cash >= Amount::ZERO && d.arrears >= Amount::ZERO);
            // Cash pays only while positive; arrears only once everything else is spent.
            prop_assert!(d.cash <= snapshot.cash.max(Amount::ZERO));
            let drawn = &draws[drawn_before..];
            prop_assert_eq!(drawn.iter().map(|d| d.amount).sum::<Amount>(), d.coupon + d.card);
            for draw in drawn {
                let i = snapshot.instruments.iter().find(|i| i.kind == draw.kind && i.id == draw.id).unwrap();
                prop_assert!(i.active && i.validity.covers(charge.day) && draw.amount <= i.balance);
                prop_assert!(eligible || draw.kind == InstrumentKind::PrepaidCard);
            }
            if d.arrears.is_positive() {
                prop_assert!(funds.cash.is_negative());
            }
            for i in &funds.instruments {
                prop_assert!(i.balance >= Amount::ZERO);
            }
            paid += d.total();
            deductions.push(d);
        }
        let after: Amount = funds.instruments.iter().map(|i| i.balance).sum::<Amount>() + funds.cash;
        prop_assert_eq!(before - after, paid);
        // The ledger view of the same deductions balances, and its fund postings equal the change.
        let tx = Transaction::deduction(&deductions, &draws);
        let fund_total: Amount = tx.postings().iter().filter(|p| p.book.is_fund()).map(|p| p.amount).sum();
        prop_assert_eq!(fund_total, -paid);
    }

    /// Where no instrument can pay (none active with a balance), paying from cash alone is the
    /// waterfall: the same deductions and the same funds after, credits and zero lines too.
    #[test]
    fn cash_alone_pays_as_the_waterfall_when_no_instrument_can(
        instruments in instruments(4),
        cash in -1_000..5_000i64,
        charges in prop::collection::vec(charge(), 1..12),
        credits in prop::collection::vec(0..3_000i64, 0..3),
    ) {
        let spent = instruments.into_iter().map(|i| Instrument { balance: if i.active { Amount::ZERO } else { i.balance }, ..i }).collect();
        let mut waterfall = Funds { instruments: spent, cash: Amount(cash) };
        prop_assert!(!waterfall.instruments_can_pay());
        let mut cash_only = waterfall.clone();
        let amounts = charges.iter().map(|c| (c.0, c.1, c.2, c.3)).chain(credits.iter().map(|&c| (0, 0, -c, true)));
        for parts in amounts {
            let charge = to_charge(parts);
            let before = cash_only.cash;
            let d = cash_only.deduct_from_cash(charge.amount);
            let mut draws = Vec::new();
            prop_assert_eq!(waterfall.deduct(&charge, true, &mut draws).unwrap(), d);
            prop_assert!(draws.is_empty());
            prop_assert_eq!(&waterfall, &cash_only);
            // Cash moves by the whole amount: a credit comes back, a charge is paid or owed.
            prop_assert_eq!(before - cash_only.cash, charge.amount);
            prop_assert_eq!((d.total(), d.coupon + d.card), (charge.amount, Amount::ZERO));
            prop_assert_eq!(d.cash, if charge.amount.is_negative() { charge.amount } else { charge.amount.min(before.max(Amount::ZERO)) });
        }
    }

    /// A daily bill pays its lines in order exactly as the waterfall pays each charge alone,
    /// whether instruments limited to an item take part or not (the bill reads a line's item
    /// only for those), and settling into vectors kept from an earlier bill changes nothing.
    #[test]
    fn a_bill_pays_its_lines_as_the_waterfall_pays_each(
        instruments in instruments(6),
        cash in -1_000..5_000i64,
        lines in prop::collection::vec((0..3u8, -300..3_000i64, any::<bool>()), 0..12),
    ) {
        use billing::{ChargeType, Dims, RatedLine, Rounded, Standing, UsageKey, settle_day, settle_day_reusing};
        let keys: Vec<UsageKey> = lines
            .iter()
            .enumerate()
            .map(|(n, &(item, ..))| UsageKey { workspace: format!("w{n:02}").into(), item: ITEMS[item as usize].into(), dims: Dims::none() })
            .collect();
        let rated: Vec<RatedLine<'_>> = keys
            .iter()
            .zip(&lines)
            .map(|(key, &(_, amount, coupon_eligible))| RatedLine {
                key,
                billing_day: base(),
                usage_day: base(),
                charge_type: ChargeType::PayAsYouGo,
                coupon_eligible,
                quantity: Quantity(1_000_000),
                covered: Quantity::ZERO,
                chargeable: Quantity(1_000_000),
                priced_base: None,
                unit_price: None,
                rounded: Rounded { amount: Amount(amount), rounding_discount: RoundingDiscount::ZERO },
                pack_draws: Vec::new(),
            })
            .collect();
        let mut one_by_one = Funds { instruments, cash: Amount(cash) };
        let (mut funds, mut again) = (one_by_one.clone(), one_by_one.clone());
        let mut expected_draws = Vec::new();
        let expected: Vec<_> = keys
            .iter()
            .zip(&lines)
            .map(|(key, &(_, amount, eligible))| {
                let charge = Charge { day: base(), item: &key.item, coupon_eligible: eligible, amount: Amount(amount) };
                one_by_one.deduct(&charge, true, &mut expected_draws).unwrap()
            })
            .collect();
        let bill = settle_day(&mut funds, &mut Standing::ACTIVE.clone(), base(), rated.clone());
        prop_assert_eq!(bill.lines().map(|l| *l.deduction).collect::<Vec<_>>(), expected.clone());
        prop_assert_eq!(bill.draws(), expected_draws.as_slice());
        // Its ledger transaction is the deduction of the charged lines (credits are refunded).
        let charged = lines.iter().any(|&(_, amount, _)| amount > 0);
        prop_assert_eq!(&bill.deduction, &charged.then(|| Transaction::deduction(&expected, &expected_draws)));
        let credit: i64 = lines.iter().map(|&(_, amount, _)| amount.min(0)).sum();
        prop_assert_eq!(bill.refund.as_ref().map(|r| r.postings()[0].amount), (credit < 0).then_some(Amount(-credit)));
        prop_assert_eq!(&funds, &one_by_one);
        // The same bill settled into the vectors of another (here: itself, emptied).
        let (mut kept_lines, spare) = bill.clone().recycle();
        prop_assert!(kept_lines.is_empty());
        kept_lines.extend(rated);
        let reused = settle_day_reusing(&mut again, &mut Standing::ACTIVE.clone(), base(), kept_lines, spare);
        prop_assert_eq!(reused, bill);
        prop_assert_eq!(again, funds);
    }

    /// The waterfall as SPEC 4.5 states it: the instruments that may pay a charge, sorted by
    /// kind, expiry, balance and age, each drawing what it can in turn, then cash while
    /// positive, then arrears. `Funds::deduct` pays every charge of a sequence as this model
    /// does (a small balance drawn first can reorder instruments between charges, never
    /// within one).
    #[test]
    fn the_waterfall_pays_in_its_stated_order(
        instruments in instruments(8),
        cash in -1_000..5_000i64,
        charges in prop::collection::vec(charge(), 1..12),
    ) {
        let mut funds = Funds { instruments: instruments.clone(), cash: Amount(cash) };
        let mut model = funds.clone();
        for parts in charges {
            let (charge, eligible) = (to_charge(parts), parts.3);
            let mut draws = Vec::new();
            let paid = funds.deduct(&charge, true, &mut draws).unwrap();
            // The model, step by step.
            let mut payers: Vec<usize> = (0..model.instruments.len())
                .filter(|&i| {
                    let s = &model.instruments[i];
                    s.active && s.balance.is_positive() && s.validity.covers(charge.day)
                        && (s.kind == InstrumentKind::PrepaidCard || eligible)
                        && s.scope.as_ref().is_none_or(|scope| scope.contains(charge.item))
                })
                .collect();
            payers.sort_by_key(|&i| { let s = &model.instruments[i]; (s.kind, s.validity.until, s.balance, s.id) });
            let (mut due, mut expected, mut coupon, mut card) = (charge.amount, Vec::new(), Amount::ZERO, Amount::ZERO);
            for i in payers {
                if !due.is_positive() { break; }
                let s = &mut model.instruments[i];
                let take = due.min(s.balance);
                s.balance -= take;
                due -= take;
                if s.kind == InstrumentKind::PrepaidCard { card += take } else { coupon += take }
                expected.push(Draw { kind: s.kind, id: s.id, amount: take });
            }
            let cash_paid = if due.is_positive() { due.min(model.cash.max(Amount::ZERO)) } else { Amount::ZERO };
            model.cash -= due.max(Amount::ZERO);
            prop_assert_eq!(draws, expected);
            prop_assert_eq!((paid.coupon, paid.card, paid.cash), (coupon, card, cash_paid));
            prop_assert_eq!(paid.arrears, due.max(Amount::ZERO) - cash_paid);
            prop_assert_eq!(&funds, &model);
        }
    }

    /// Deduction is deterministic: the same funds and charges give the same result.
    #[test]
    fn waterfall_is_deterministic(instruments in instruments(8), cash in 0..5_000i64, amount in 0..20_000i64) {
        let charge = Charge { day: base(), item: "log_events", coupon_eligible: true, amount: Amount(amount) };
        let mut a = Funds { instruments: instruments.clone(), cash: Amount(cash) };
        let mut reversed = instruments.clone();
        reversed.reverse();
        let mut b = Funds { instruments: reversed, cash: Amount(cash) };
        let (mut drawn_a, mut drawn_b) = (Vec::new(), Vec::new());
        let da = a.deduct(&charge, true, &mut drawn_a).unwrap();
        let db = b.deduct(&charge, true, &mut drawn_b).unwrap();
        prop_assert_eq!((da, drawn_a), (db, drawn_b));
    }

    /// A purchase that may not create arrears either pays in full without arrears or changes nothing.
    #[test]
    fn no_arrears_purchases_are_all_or_nothing(instruments in instruments(6), cash in -500..5_000i64, amount in 0..20_000i64) {
        let mut funds = Funds { instruments, cash: Amount(cash) };
        let before = funds.clone();
        let charge = Charge { day: base(), item: "starter", coupon_eligible: true, amount: Amount(amount) };
        match funds.deduct(&charge, false, &mut Vec::new()) {
            Ok(d) => prop_assert!(d.arrears.is_zero() && d.total() == charge.amount),
            Err(_) => prop_assert_eq!(funds, before),
        }
    }

    /// The rounding contract: amount + rounding discount = exact, amount never above exact,
    /// and the discount below one minor unit.
    #[test]
    fn rounding_down_keeps_the_fraction(units in 0..10_000_000i64, scale in 0..8u32) {
        let exact = Decimal::new(units, scale);
        let r = round_line(cny(), exact);
        let amount = cny().to_decimal(r.amount);
        prop_assert_eq!(amount + r.rounding_discount.to_decimal(), exact);
        prop_assert!(amount <= exact);
        prop_assert!(r.rounding_discount.0 >= 0 && r.rounding_discount.to_decimal() < Decimal::new(1, 2));
    }

    /// Graduated prices never fall as quantity rises, and equal the sum over tiers.
    #[test]
    fn graduated_is_monotone(a in 0..100_000i64, b in 0..100_000i64) {
        let model = PriceModel::Graduated { tiers: vec![
            Tier { up_to: Some(Decimal::from(10)), unit_price: Decimal::from(10), flat_fee: Decimal::from(2) },
            Tier { up_to: Some(Decimal::from(20)), unit_price: Decimal::from(5), flat_fee: Decimal::from(3) },
            Tier { up_to: None, unit_price: Decimal::new(5, 1), flat_fee: Decimal::from(3) },
        ] };
        let (lo, hi) = (Decimal::new(a.min(b), 2), Decimal::new(a.max(b), 2));
        prop_assert!(model.amount(lo) <= model.amount(hi));
    }

    /// Invoice totals are the sums of their lines, whatever the grouping: the lines one by one
    /// and the lines summed per workspace × charge type (as the store keeps them) give the
    /// same invoice.
    #[test]
    fn invoice_totals_are_sums(lines in prop::collection::vec((0..3u8, 0..2u8, 0..1_000i64, 0..1_000i64, 0..1_000i64, 0..1_000i64), 0..30)) {
        use billing::{Invoice, LineTotals, Month};
        let month = Month { year: 2026, month: 11 };
        let mut groups: BTreeMap<(u8, u8), LineTotals> = BTreeMap::new();
        let input: Vec<LineTotals> = lines.iter().map(|&(w, c, coupon, card, cash, arrears)| {
            let t = LineTotals { gross: Amount(coupon + card + cash + arrears), rounding_discount: RoundingDiscount(coupon), coupon: Amount(coupon), card: Amount(card), cash: Amount(cash), arrears: Amount(arrears) };
            groups.entry((w, c)).or_default().add(&t);
            t
        }).collect();
        let gross: Amount = input.iter().map(|t| t.gross).sum();
        let cash: Amount = input.iter().map(|t| t.cash).sum();
        let by_line = Invoice::assemble(month, input.clone(), vec![]);
        let by_group = Invoice::assemble(month, groups.into_values(), vec![]);
        prop_assert_eq!(&by_line, &by_group);
        match by_line {
            None => prop_assert!(input.is_empty()),
            Some(inv) => {
                prop_assert_eq!(inv.totals.gross, gross);
                prop_assert_eq!(inv.invoiceable, cash);
                prop_assert!(inv.totals.is_settled());
            }
        }
    }
}

proptest! {
    /// A decimal as an integer at a fixed scale (storage's encoding) is exactly the decimal
    /// times 10^scale when that is a whole i64, and `None` otherwise, as decimal arithmetic
    /// says: digits beyond the scale, or too large.
    #[test]
    fn scaled_integers_are_exact(mantissa in -10_000_000_000i64..10_000_000_000, digits in 0..=28u32, scale in 0..=18u32) {
        let value = Decimal::new(mantissa, digits);
        let by_decimals = if value.normalize().scale() > scale {
            None
        } else {
            i64::try_from((value * Decimal::from(10i64.pow(scale))).normalize()).ok()
        };
        prop_assert_eq!(billing::money::to_scaled(value, scale), by_decimals);
        if let Some(scaled) = by_decimals {
            let back = billing::money::from_scaled(scaled, scale);
            prop_assert_eq!(back, value);
            // ... and normalized: no trailing zeros, odd integers or even.
            prop_assert_eq!(back.scale(), value.normalize().scale());
        }
    }
}

/// Mantissas on both sides of 64 bits, where rating's integer paths hand over to 128 bits.
fn mantissa(below: u128) -> impl Strategy<Value = u128> {
    prop_oneof![0..1_000u128, 0..(1u128 << 34), 0..u128::from(u64::MAX), u128::from(u64::MAX)..below]
}

proptest! {
    /// A per-unit amount is units × unit price exactly, on the 64-bit path and off it.
    #[test]
    fn per_unit_amounts_are_exact_products(units in mantissa(1 << 66), units_scale in 0..=10u32, price in 0..(1u64 << 30), price_scale in 0..=6u32) {
        let units = Decimal::from_i128_with_scale(units as i128, units_scale);
        let unit_price = Decimal::new(price as i64, price_scale);
        prop_assert_eq!(PriceModel::PerUnit { unit_price }.amount(units), units * unit_price);
    }

    /// Units are the quantity over the unit size, truncated to two decimals: checked against
    /// whole-number division in 128 bits.
    #[test]
    fn units_truncate_the_exact_quotient(q in mantissa(1 << 66), q_scale in 0..=12u32, size in 1..1_000_000_000u64, size_scale in 0..=6u32) {
        let quantity = Decimal::from_i128_with_scale(q as i128, q_scale);
        let unit_size = Decimal::new(size as i64, size_scale);
        // (q / 10^qs) / (size / 10^ss) × 100 = q × 10^(ss + 2) / (size × 10^qs)
        let hundredths = q * 10u128.pow(size_scale + 2) / (u128::from(size) * 10u128.pow(q_scale));
        prop_assert_eq!(billing::rating::units(quantity, unit_size), Decimal::from_i128_with_scale(hundredths as i128, 2));
    }

    /// A first-billed line's rounded amount, computed in one integer pass where it can be,
    /// is the rounding contract applied to the exact amount: on both sides of 64 bits, with
    /// and without free quantity, at any scales a catalog allows.
    #[test]
    fn rounded_lines_follow_the_rounding_contract(
        q in mantissa(1 << 66), q_scale in 0..=12u32,
        size in 1..1_000_000_000u64, size_scale in 0..=6u32,
        price in prop_oneof![0..1_000u64, 0..(1u64 << 40), 0..u64::MAX], price_scale in 0..=6u32, zeros in prop_oneof![Just(0u32), 0..=3u32],
        free in prop_oneof![Just(0i64), 0..1_000_000i64],
    ) {
        // Only amounts a line can have (within `Amount::MAX` minor units) are rated.
        let hundredths = q * 10u128.pow(size_scale + 2) / (u128::from(size) * 10u128.pow(q_scale));
        let minor = hundredths.checked_mul(u128::from(price)).map(|m| m / 10u128.pow(price_scale));
        prop_assume!(minor.is_some_and(|m| m <= Amount::MAX.minor() as u128));
        let quantity = Decimal::from_i128_with_scale(q as i128, q_scale);
        let unit_size = Decimal::new(size as i64, size_scale);
        // A catalog's price has at most six decimals, but may be written with trailing zeros.
        let unit_price = Decimal::from_i128_with_scale(i128::from(price) * 10i128.pow(zeros), price_scale + zeros);
        let price = Price { model: PriceModel::PerUnit { unit_price }, free_quantity: Decimal::from(free) };
        prop_assert_eq!(price.rounded(quantity, unit_size, cny()), round_line(cny(), price.amount(quantity, unit_size)));
    }

    /// Rounding down on any mantissa (trailing zeros take it past 64 bits): the amount plus
    /// the rounding discount is the exact amount, the discount reads back as a decimal
    /// without trailing zeros, and a decimal of it converts back to it.
    #[test]
    fn rounding_discount_is_exact_and_normalized(m in prop_oneof![0..1_000u128, 0..(1u128 << 56)], scale in 0..=8u32, zeros in 0..=12u32) {
        let exact = Decimal::from_i128_with_scale(m as i128 * 10i128.pow(zeros), scale + zeros);
        let r = cny().round_down(exact);
        let discount = r.rounding_discount.to_decimal();
        prop_assert_eq!(cny().to_decimal(r.amount) + discount, exact);
        prop_assert!(r.rounding_discount.0 >= 0 && discount < Decimal::new(1, 2));
        prop_assert_eq!(discount.scale(), discount.normalize().scale());
        prop_assert_eq!(RoundingDiscount::from_decimal(discount), Some(r.rounding_discount));
    }
}
