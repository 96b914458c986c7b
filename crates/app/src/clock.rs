//! The one clock of the product. Every use case takes its moment as an argument; the layers
//! above (the CLI, the server, its scheduler and webhook delivery) ask this clock for it, so a
//! test or an operator can set the product's time in one place (`--now`, `BILLCENTER_NOW`).

use jiff::Timestamp;

/// Where "now" comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Clock {
    /// The machine's clock.
    #[default]
    System,
    /// A moment that does not move: every reading answers it (the test clock).
    Fixed(Timestamp),
}

impl Clock {
    /// The clock `--now` asks for: fixed at that moment when given, else the machine's.
    pub fn from_option(fixed: Option<Timestamp>) -> Clock {
        fixed.map_or(Clock::System, Clock::Fixed)
    }

    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => Timestamp::now(),
            Clock::Fixed(at) => *at,
        }
    }

    pub fn is_fixed(&self) -> bool {
        matches!(self, Clock::Fixed(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_clock_answers_its_moment() {
        let at: Timestamp = "2028-02-29T12:00:00Z".parse().unwrap();
        let fixed = Clock::from_option(Some(at));
        assert_eq!(fixed.now(), at);
        assert!(fixed.is_fixed());
        assert_eq!(Clock::from_option(None), Clock::System);
    }
}
