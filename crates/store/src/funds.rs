//! Coupons, prepaid cards and annual packages.

use super::*;

impl Tx {
    pub async fn insert_instrument(&mut self, i: &InstrumentRow) -> Result<()> {
        on!(self, conn => {
            sqlx::query::<Db>(
                "INSERT INTO instrument (account_id, instrument_id, kind, origin, code, face_value, balance, valid_from, valid_until, scope, active, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(&i.account_id)
            .bind(i.instrument_id)
            .bind(&i.kind)
            .bind(&i.origin)
            .bind(&i.code)
            .bind(i.face_value)
            .bind(i.balance)
            .bind(day_text(i.valid_from))
            .bind(day_text(i.valid_until))
            .bind(&i.scope)
            .bind(i64::from(i.active))
            .bind(micros(i.created_at))
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
    }

    pub(crate) const INSTRUMENT_COLUMNS: &'static str =
        "account_id, instrument_id, kind, origin, code, face_value, balance, valid_from, valid_until, scope, active, created_at";

    pub(crate) fn instrument_row(r: &impl Cols) -> Result<InstrumentRow> {
        Ok(InstrumentRow {
            account_id: r.col(0),
            instrument_id: r.col(1),
            kind: r.col(2),
            origin: r.col(3),
            code: r.col(4),
            face_value: r.col(5),
            balance: r.col(6),
            valid_from: parse_day(&r.text(7))?,
            valid_until: parse_day(&r.text(8))?,
            scope: r.col(9),
            active: r.int(10) != 0,
            created_at: from_micros(r.col(11))?,
        })
    }

    /// Active instruments of a batch of accounts `[first, last]`.
    pub async fn active_instruments(&mut self, first: &str, last: &str) -> Result<Vec<InstrumentRow>> {
        let sql = format!(
            "SELECT {} FROM instrument WHERE account_id >= $1 AND account_id <= $2 AND active = 1 ORDER BY account_id, instrument_id",
            Self::INSTRUMENT_COLUMNS
        );
        text_rows!(self, sql, [first, last], Self::instrument_row)
    }

    /// The prepaid cards bought by the accounts in `[first, last]`, active or not.
    pub async fn purchased_cards_between(&mut self, first: &str, last: &str) -> Result<Vec<InstrumentRow>> {
        let sql = format!(
            "SELECT {} FROM instrument WHERE account_id >= $1 AND account_id <= $2 AND kind = 'card' AND origin = 'purchased' \
             ORDER BY account_id, instrument_id",
            Self::INSTRUMENT_COLUMNS
        );
        text_rows!(self, sql, [first, last], Self::instrument_row)
    }

    /// Every instrument of one account, oldest first.
    pub async fn instruments(&mut self, account_id: &str) -> Result<Vec<InstrumentRow>> {
        on!(self, conn => {
            let sql = format!("SELECT {} FROM instrument WHERE account_id = $1 ORDER BY instrument_id", Self::INSTRUMENT_COLUMNS);
            let rows = sqlx::query::<Db>(sqlx::AssertSqlSafe(sql)).bind(account_id).fetch_all(&mut *conn).await?;
            rows.iter().map(Self::instrument_row).collect()
        })
    }

    pub async fn update_instrument(&mut self, account_id: &str, instrument_id: i64, balance: i64, active: bool) -> Result<()> {
        on!(self, conn => {
            sqlx::query::<Db>("UPDATE instrument SET balance = $3, active = $4 WHERE account_id = $1 AND instrument_id = $2")
                .bind(account_id)
                .bind(instrument_id)
                .bind(balance)
                .bind(i64::from(active))
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
    }

    /// Writes many instruments' balances and states at once (the nightly run's).
    pub async fn update_instruments(&mut self, updates: &[InstrumentBalance]) -> Result<()> {
        match &mut self.inner {
            TxInner::Sqlite(tx) => {
                let sql = "UPDATE instrument SET balance = ?3, active = ?4 WHERE account_id = ?1 AND instrument_id = ?2";
                bulk::sqlite_each(tx, sql, updates, "instrument").await
            }
            TxInner::Postgres(tx) => {
                for chunk in updates.chunks(INSERT_CHUNK) {
                    let mut q = QueryBuilder::<sqlx::Postgres>::new("UPDATE instrument SET balance = v.column3, active = v.column4 FROM (");
                    q.push_values(chunk, |mut b, u| {
                        b.push_bind(u.account_id.as_str()).push_bind(u.instrument_id).push_bind(u.balance).push_bind(i64::from(u.active));
                    });
                    q.push(") AS v WHERE instrument.account_id = v.column1 AND instrument.instrument_id = v.column2");
                    q.build().execute(&mut **tx).await?;
                }
                Ok(())
            }
        }
    }

    pub async fn insert_package(&mut self, p: &PackageRow) -> Result<()> {
        on!(self, conn => {
            sqlx::query::<Db>(
                "INSERT INTO package (account_id, package_no, plan, start_day, end_day, price, purchased_at, auto_renew) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
                .bind(&p.account_id)
                .bind(p.package_no)
                .bind(&p.plan)
                .bind(day_text(p.start_day))
                .bind(day_text(p.end_day))
                .bind(p.price)
                .bind(micros(p.purchased_at))
                .bind(i64::from(p.auto_renew))
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
    }

    /// Sets whether a package renews itself at its end.
    pub async fn set_package_auto_renew(&mut self, account_id: &str, package_no: i64, auto_renew: bool) -> Result<()> {
        on!(self, conn => {
            sqlx::query::<Db>("UPDATE package SET auto_renew = $3 WHERE account_id = $1 AND package_no = $2")
                .bind(account_id)
                .bind(package_no)
                .bind(i64::from(auto_renew))
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
    }

    /// Ends a package early (an upgrade): it covers days before `end_day` only.
    pub async fn end_package(&mut self, account_id: &str, package_no: i64, end_day: Date) -> Result<()> {
        on!(self, conn => {
            sqlx::query::<Db>("UPDATE package SET end_day = $3 WHERE account_id = $1 AND package_no = $2")
                .bind(account_id)
                .bind(package_no)
                .bind(day_text(end_day))
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
    }

    /// Packages of a batch of accounts `[first, last]`.
    pub async fn packages_between(&mut self, first: &str, last: &str) -> Result<Vec<PackageRow>> {
        let sql = "SELECT account_id, package_no, plan, start_day, end_day, price, purchased_at, auto_renew FROM package \
                   WHERE account_id >= $1 AND account_id <= $2 ORDER BY account_id, package_no";
        text_rows!(self, sql, [first, last], Self::package_row)
    }

    pub(crate) fn package_row(r: &impl Cols) -> Result<PackageRow> {
        Ok(PackageRow {
            account_id: r.col(0),
            package_no: r.col(1),
            plan: r.col(2),
            start_day: parse_day(&r.text(3))?,
            end_day: parse_day(&r.text(4))?,
            price: r.col(5),
            purchased_at: from_micros(r.col(6))?,
            auto_renew: r.int(7) != 0,
        })
    }
}
