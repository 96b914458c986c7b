//! Account standing: active, overdue (cash below zero) and suspended (overdue past the grace
//! period). Every change is an event with the date it happened.

use jiff::civil::Date;

use crate::money::Amount;

/// Days an account may stay overdue before it is suspended.
pub const GRACE_DAYS: i32 = 14;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountState {
    Active,
    Overdue,
    Suspended,
}

impl AccountState {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountState::Active => "active",
            AccountState::Overdue => "overdue",
            AccountState::Suspended => "suspended",
        }
    }
    pub fn parse(text: &str) -> Option<AccountState> {
        [AccountState::Active, AccountState::Overdue, AccountState::Suspended].into_iter().find(|s| s.as_str() == text)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateChange {
    Overdue,
    Suspended,
    Reactivated,
}

impl StateChange {
    /// The event name, as webhooks carry it.
    pub fn event(self) -> &'static str {
        match self {
            StateChange::Overdue => "account.overdue",
            StateChange::Suspended => "account.suspended",
            StateChange::Reactivated => "account.reactivated",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Standing {
    pub state: AccountState,
    /// The billing day on which cash went below zero, while it stays there.
    pub overdue_since: Option<Date>,
}

impl Standing {
    pub const ACTIVE: Standing = Standing { state: AccountState::Active, overdue_since: None };

    /// Moves the standing after cash changed on `day` (a settled daily bill, a top-up).
    pub fn update(&mut self, cash: Amount, day: Date) -> Option<StateChange> {
        if !cash.is_negative() {
            let was = self.state;
            *self = Standing::ACTIVE;
            return (was != AccountState::Active).then_some(StateChange::Reactivated);
        }
        match (self.state, self.overdue_since) {
            (AccountState::Active, _) | (_, None) => {
                *self = Standing { state: AccountState::Overdue, overdue_since: Some(day) };
                Some(StateChange::Overdue)
            }
            (AccountState::Overdue, Some(since)) if (day - since).get_days() >= GRACE_DAYS => {
                self.state = AccountState::Suspended;
                Some(StateChange::Suspended)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn overdue_then_suspended_then_reactivated() {
        let mut s = Standing::ACTIVE;
        assert_eq!(s.update(Amount(-1), date(2026, 11, 1)), Some(StateChange::Overdue));
        assert_eq!(s.update(Amount(-1), date(2026, 11, 14)), None);
        assert_eq!(s.update(Amount(-1), date(2026, 11, 15)), Some(StateChange::Suspended));
        assert_eq!(s.update(Amount(-1), date(2026, 11, 16)), None);
        assert_eq!(s.update(Amount(0), date(2026, 11, 17)), Some(StateChange::Reactivated));
        assert_eq!(s, Standing::ACTIVE);
    }
}
