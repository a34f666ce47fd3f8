//! A run's budget (`--max-cost-usd`): what the run's sessions have spent so far, every attempt
//! counted, and what a session starting now may spend (claude's `--max-budget-usd`). Shared by
//! the task threads, which record what their sessions cost, and the scheduler, which starts
//! nothing once it is spent.

use std::sync::Mutex;

/// Less than this is nothing left: claude would be given `--max-budget-usd 0`.
const MILLIONTH: f64 = 0.000_001;

#[derive(Debug)]
pub struct Budget {
    limit: Option<f64>,
    /// What each task's sessions have cost so far in this run, all its attempts.
    spent: Mutex<Vec<f64>>,
}

impl Budget {
    pub fn new(limit: Option<f64>, tasks: usize) -> Budget {
        Budget {
            limit,
            spent: Mutex::new(vec![0.0; tasks]),
        }
    }

    pub fn limit(&self) -> Option<f64> {
        self.limit
    }

    /// Task `index`'s sessions have cost `cost` so far, all its attempts together: the figure
    /// replaces the task's earlier one.
    pub fn record(&self, index: usize, cost: f64) {
        let mut spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(task) = spent.get_mut(index) {
            *task = cost;
        }
    }

    /// What the run's sessions have cost so far.
    pub fn spent(&self) -> f64 {
        let spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
        spent.iter().sum()
    }

    /// What a session starting now may spend: the rest of the budget; `None` without one.
    pub fn left(&self) -> Option<f64> {
        left_after(self.limit, self.spent())
    }

    /// The run has spent its budget: no session starts any more.
    pub fn is_spent(&self) -> bool {
        self.left().is_some_and(is_nothing)
    }
}

/// What is left of `limit` once `spent` is spent, never below nothing; `None` without a limit.
pub fn left_after(limit: Option<f64>, spent: f64) -> Option<f64> {
    limit.map(|limit| (limit - spent).max(0.0))
}

/// Less than a millionth of a dollar left: nothing a session could be given.
pub fn is_nothing(left: f64) -> bool {
    left < MILLIONTH
}

/// `amount` in whole millionths of a dollar, rounded down: a session given what is left never
/// gets more.
pub fn whole_millionths(amount: f64) -> f64 {
    (amount * 1e6).floor() / 1e6
}

/// claude's arguments with `--max-budget-usd` lowered to `left` where it is more. Preflight
/// gives every session of a run with a budget the option (`settings::claude_arguments`); only
/// porch's own part of the arguments can hold it, as a task's `args` may not.
pub fn capped_arguments(args: &[String], left: f64) -> Vec<String> {
    let mut args = args.to_vec();
    if let Some(at) = args.iter().position(|a| a == "--max-budget-usd")
        && let Some(value) = args.get_mut(at + 1)
    {
        let given = value.parse::<f64>().unwrap_or(left);
        *value = dollars(given.min(left));
    }
    args
}

/// Dollars as claude's `--max-budget-usd` and people read them: at most six decimals, no
/// trailing zeros (`0.03`, `0.0129`).
pub fn dollars(amount: f64) -> String {
    let text = format!("{amount:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text.is_empty() {
        "0".to_string()
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_left_is_the_budget_less_every_tasks_spending() {
        // (budget, what two tasks spent, what is left, spent)
        let cases = [
            (Some(0.03), [0.0, 0.0], Some("0.03"), false),
            (Some(0.03), [0.0171, 0.0], Some("0.0129"), false),
            (Some(0.03), [0.0171, 0.0171], Some("0"), true),
            (Some(0.03), [0.01, 0.02], Some("0"), true),
            (Some(1.0), [0.5, 0.25], Some("0.25"), false),
            (None, [0.9, 0.0], None, false),
        ];
        for (limit, spent, left, is_spent) in cases {
            let budget = Budget::new(limit, 2);
            budget.record(0, spent[0]);
            budget.record(1, spent[1]);
            let row = format!("{limit:?} {spent:?}");
            assert_eq!(budget.left().map(dollars).as_deref(), left, "{row}");
            assert_eq!(budget.is_spent(), is_spent, "{row}");
        }
    }

    #[test]
    fn a_tasks_figure_replaces_its_earlier_one() {
        let budget = Budget::new(Some(0.03), 2);
        budget.record(1, 0.01);
        budget.record(1, 0.025);
        assert_eq!(dollars(budget.spent()), "0.025");
        budget.record(0, 0.005);
        assert!(budget.is_spent());
    }

    #[test]
    fn a_session_gets_what_is_left_when_that_is_less_than_its_budget() {
        let args = |budget: &str| -> Vec<String> {
            ["-p", "--max-budget-usd", budget, "--allowedTools", "Read"]
                .map(String::from)
                .into()
        };
        // (the budget preflight gave, what is left, the budget the session gets)
        let cases = [
            ("0.05", 0.05, "0.05"),
            ("0.05", 0.012_899_999_999_999_998, "0.0129"),
            ("0.005", 0.03, "0.005"),
        ];
        for (given, left, gets) in cases {
            assert_eq!(
                capped_arguments(&args(given), left),
                args(gets),
                "{given} {left}"
            );
        }
        let without: Vec<String> = vec!["-p".into()];
        assert_eq!(
            capped_arguments(&without, 0.01),
            without,
            "no budget to lower"
        );
    }

    #[test]
    fn dollars_are_written_short() {
        let cases = [
            (0.03, "0.03"),
            (0.012_899_999_999_999_998, "0.0129"),
            (5.0, "5"),
            (0.0, "0"),
            (0.000_25, "0.00025"),
        ];
        for (amount, text) in cases {
            assert_eq!(dollars(amount), text, "{amount}");
        }
    }
}
