//! Classification metrics: [`accuracy`], a [`ConfusionMatrix`] with per-class precision and
//! recall, and a [`RunningMean`] for logging a loss over an epoch.
//!
//! ```
//! use ferrite_nn::metrics::{accuracy, ConfusionMatrix, RunningMean};
//! use ferrite_tensor::Tensor;
//! let logits = Tensor::from_vec(vec![2.0f32, 0.1, 0.3, 0.9, 0.8, 0.1], &[3, 2])?;
//! let labels = [0, 1, 1];
//! assert_eq!(accuracy(&logits, &labels)?, 2.0 / 3.0);
//! let mut cm = ConfusionMatrix::new(2);
//! cm.update_from_logits(&logits, &labels)?;
//! assert_eq!(cm.count(1, 0), 1); // one true 1 predicted as 0
//! let mut loss = RunningMean::new();
//! loss.update(0.5, 3);
//! loss.update(1.0, 1);
//! assert_eq!(loss.mean(), 0.625);
//! # Ok::<(), ferrite_nn::NnError>(())
//! ```

use std::fmt;

use ferrite_tensor::{Float, Tensor};

use crate::NnError;

/// The predicted class of every row of `[N, C]` logits (the index of the largest value).
fn predicted<T: Float>(
    op: &'static str,
    logits: &Tensor<T>,
    n: usize,
) -> Result<Vec<usize>, NnError> {
    let shape = logits.shape();
    if shape.len() != 2 || shape[0] != n {
        return Err(NnError::invalid(
            op,
            format!("expected logits of shape [{n}, classes] for {n} labels, found {shape:?}"),
        ));
    }
    Ok(logits
        .argmax(1, false)?
        .as_array()
        .iter()
        .map(|&p| p as usize)
        .collect())
}

/// The fraction of rows of `[N, C]` logits whose largest value is at the label, like
/// `(logits.argmax(1) == labels).float().mean()` (0 for no rows).
///
/// # Errors
/// [`NnError::Invalid`] when the logits are not `[labels.len(), C]`.
///
/// ```
/// use ferrite_nn::metrics::accuracy;
/// use ferrite_tensor::Tensor;
/// let logits = Tensor::from_vec(vec![0.1f32, 0.9, 0.8, 0.2], &[2, 2])?;
/// assert_eq!(accuracy(&logits, &[1, 1])?, 0.5);
/// assert!(accuracy(&logits, &[1]).is_err());
/// # Ok::<(), ferrite_nn::NnError>(())
/// ```
pub fn accuracy<T: Float>(logits: &Tensor<T>, labels: &[usize]) -> Result<f64, NnError> {
    let predicted = predicted("accuracy", logits, labels.len())?;
    let correct = predicted.iter().zip(labels).filter(|(p, l)| p == l).count();
    Ok(correct as f64 / labels.len().max(1) as f64)
}

/// Counts of (true class, predicted class) pairs: row `t`, column `p` holds how many samples
/// of class `t` were predicted as `p` (torchmetrics' `MulticlassConfusionMatrix` layout).
///
/// Displayed (`{}`), it is a table with a header of predicted classes and one row per true
/// class, each count right-aligned in 5 characters (wider when a count needs it).
///
/// ```
/// use ferrite_nn::metrics::ConfusionMatrix;
/// let mut cm = ConfusionMatrix::new(3);
/// cm.update(&[0, 2, 1, 1], &[0, 1, 1, 2])?;
/// assert_eq!((cm.correct(), cm.total()), (2, 4));
/// assert_eq!(cm.accuracy(), 0.5);
/// assert_eq!(cm.recall(1), Some(0.5));
/// assert_eq!(cm.precision(2), Some(0.0));
/// assert_eq!(cm.to_string(), "          0    1    2\n    0     1    0    0\n    1     0    1    1\n    2     0    1    0\n");
/// # Ok::<(), ferrite_nn::NnError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfusionMatrix {
    classes: usize,
    /// Row-major `classes × classes` counts.
    counts: Vec<u64>,
}

impl ConfusionMatrix {
    /// An empty matrix of `classes` classes.
    ///
    /// ```
    /// use ferrite_nn::metrics::ConfusionMatrix;
    /// assert_eq!(ConfusionMatrix::new(10).total(), 0);
    /// ```
    pub fn new(classes: usize) -> Self {
        ConfusionMatrix {
            classes,
            counts: vec![0; classes * classes],
        }
    }

    /// The number of classes.
    ///
    /// ```
    /// use ferrite_nn::metrics::ConfusionMatrix;
    /// assert_eq!(ConfusionMatrix::new(10).classes(), 10);
    /// ```
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Counts each (label, prediction) pair.
    ///
    /// # Errors
    /// [`NnError::Invalid`] when the lengths differ or a class is out of range (nothing is
    /// counted then).
    ///
    /// ```
    /// use ferrite_nn::metrics::ConfusionMatrix;
    /// let mut cm = ConfusionMatrix::new(2);
    /// cm.update(&[1, 1], &[0, 1])?;
    /// assert_eq!(cm.count(0, 1), 1);
    /// assert!(cm.update(&[2], &[0]).is_err());
    /// # Ok::<(), ferrite_nn::NnError>(())
    /// ```
    pub fn update(&mut self, predictions: &[usize], labels: &[usize]) -> Result<(), NnError> {
        const OP: &str = "ConfusionMatrix::update";
        if predictions.len() != labels.len() {
            return Err(NnError::invalid(
                OP,
                format!(
                    "expected as many predictions as labels, found {} and {}",
                    predictions.len(),
                    labels.len()
                ),
            ));
        }
        let k = self.classes;
        if let Some(bad) = predictions.iter().chain(labels).find(|&&c| c >= k) {
            return Err(NnError::invalid(
                OP,
                format!("expected classes 0 to {}, found {bad}", k.saturating_sub(1)),
            ));
        }
        for (&p, &l) in predictions.iter().zip(labels) {
            self.counts[l * k + p] += 1;
        }
        Ok(())
    }

    /// Counts the predictions (the largest logit of each row) of `[N, C]` logits.
    ///
    /// # Errors
    /// Those of [`ConfusionMatrix::update`], and logits that are not `[labels.len(), C]`.
    ///
    /// ```
    /// use ferrite_nn::metrics::ConfusionMatrix;
    /// use ferrite_tensor::Tensor;
    /// let mut cm = ConfusionMatrix::new(2);
    /// cm.update_from_logits(&Tensor::from_vec(vec![0.0f32, 1.0], &[1, 2])?, &[1])?;
    /// assert_eq!(cm.correct(), 1);
    /// # Ok::<(), ferrite_nn::NnError>(())
    /// ```
    pub fn update_from_logits<T: Float>(
        &mut self,
        logits: &Tensor<T>,
        labels: &[usize],
    ) -> Result<(), NnError> {
        let predicted = predicted("ConfusionMatrix::update_from_logits", logits, labels.len())?;
        self.update(&predicted, labels)
    }

    /// How many samples of class `label` were predicted as `predicted` (0 out of range).
    ///
    /// ```
    /// use ferrite_nn::metrics::ConfusionMatrix;
    /// assert_eq!(ConfusionMatrix::new(2).count(0, 5), 0);
    /// ```
    pub fn count(&self, label: usize, predicted: usize) -> u64 {
        if label < self.classes && predicted < self.classes {
            self.counts[label * self.classes + predicted]
        } else {
            0
        }
    }

    /// All the samples counted.
    ///
    /// ```
    /// use ferrite_nn::metrics::ConfusionMatrix;
    /// let mut cm = ConfusionMatrix::new(2);
    /// cm.update(&[0, 1], &[1, 1])?;
    /// assert_eq!(cm.total(), 2);
    /// # Ok::<(), ferrite_nn::NnError>(())
    /// ```
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The samples predicted right (the diagonal).
    ///
    /// ```
    /// use ferrite_nn::metrics::ConfusionMatrix;
    /// let mut cm = ConfusionMatrix::new(2);
    /// cm.update(&[0, 1], &[1, 1])?;
    /// assert_eq!(cm.correct(), 1);
    /// # Ok::<(), ferrite_nn::NnError>(())
    /// ```
    pub fn correct(&self) -> u64 {
        (0..self.classes).map(|c| self.count(c, c)).sum()
    }

    /// The fraction predicted right (0 when empty).
    ///
    /// ```
    /// use ferrite_nn::metrics::ConfusionMatrix;
    /// assert_eq!(ConfusionMatrix::new(2).accuracy(), 0.0);
    /// ```
    pub fn accuracy(&self) -> f64 {
        self.correct() as f64 / self.total().max(1) as f64
    }

    /// Of the samples predicted as `class`, the fraction that are (`None` when none was).
    ///
    /// ```
    /// use ferrite_nn::metrics::ConfusionMatrix;
    /// let mut cm = ConfusionMatrix::new(2);
    /// cm.update(&[1, 1, 1, 0], &[1, 0, 1, 0])?;
    /// assert_eq!(cm.precision(1), Some(2.0 / 3.0));
    /// # Ok::<(), ferrite_nn::NnError>(())
    /// ```
    pub fn precision(&self, class: usize) -> Option<f64> {
        let predicted: u64 = (0..self.classes).map(|l| self.count(l, class)).sum();
        (predicted > 0).then(|| self.count(class, class) as f64 / predicted as f64)
    }

    /// Of the samples of `class`, the fraction predicted right (`None` when there is none):
    /// the per-class accuracy (torchmetrics' `MulticlassAccuracy(average=None)`).
    ///
    /// ```
    /// use ferrite_nn::metrics::ConfusionMatrix;
    /// let mut cm = ConfusionMatrix::new(2);
    /// cm.update(&[1, 1, 1, 0], &[1, 0, 1, 0])?;
    /// assert_eq!(cm.recall(0), Some(0.5));
    /// assert_eq!(ConfusionMatrix::new(2).recall(0), None);
    /// # Ok::<(), ferrite_nn::NnError>(())
    /// ```
    pub fn recall(&self, class: usize) -> Option<f64> {
        let actual = self.support(class);
        (actual > 0).then(|| self.count(class, class) as f64 / actual as f64)
    }

    /// The number of samples of `class`.
    ///
    /// ```
    /// use ferrite_nn::metrics::ConfusionMatrix;
    /// let mut cm = ConfusionMatrix::new(2);
    /// cm.update(&[1, 1, 1, 0], &[1, 0, 1, 0])?;
    /// assert_eq!(cm.support(1), 2);
    /// # Ok::<(), ferrite_nn::NnError>(())
    /// ```
    pub fn support(&self, class: usize) -> u64 {
        (0..self.classes).map(|p| self.count(class, p)).sum()
    }

    /// A table of each class's precision, recall (per-class accuracy) and support, one row
    /// per class, named by `names` where given (else by index).
    ///
    /// ```
    /// use ferrite_nn::metrics::ConfusionMatrix;
    /// let mut cm = ConfusionMatrix::new(2);
    /// cm.update(&[1, 1, 1, 0], &[1, 0, 1, 0])?;
    /// let table = cm.per_class_table(&["cat", "dog"]);
    /// assert_eq!(table.lines().nth(2), Some("  dog              66.67%    100.00%        2"));
    /// # Ok::<(), ferrite_nn::NnError>(())
    /// ```
    pub fn per_class_table(&self, names: &[&str]) -> String {
        let pct =
            |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{:.2}%", 100.0 * v));
        let mut out = format!(
            "  {:<12} {:>10} {:>10} {:>8}\n",
            "class", "precision", "recall", "support"
        );
        for c in 0..self.classes {
            let name = names
                .get(c)
                .map_or_else(|| c.to_string(), |n| n.to_string());
            out.push_str(&format!(
                "  {name:<12} {:>10} {:>10} {:>8}\n",
                pct(self.precision(c)),
                pct(self.recall(c)),
                self.support(c)
            ));
        }
        out
    }
}

impl fmt::Display for ConfusionMatrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let widest = self.counts.iter().max().map_or(1, |m| m.to_string().len());
        let width = (widest + 1).max(5);
        write!(f, "{:width$} ", "")?;
        for c in 0..self.classes {
            write!(f, "{c:>width$}")?;
        }
        writeln!(f)?;
        for label in 0..self.classes {
            write!(f, "{label:>width$} ")?;
            for p in 0..self.classes {
                write!(f, "{:>width$}", self.count(label, p))?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// The mean of values weighted by counts, e.g. per-sample losses of batches of different
/// sizes (PyTorch examples' `AverageMeter`): `update(loss, batch_len)` adds `loss *
/// batch_len` to the sum and `batch_len` to the count, in `f64`.
///
/// ```
/// use ferrite_nn::metrics::RunningMean;
/// let mut m = RunningMean::new();
/// m.update(2.0, 1);
/// m.update(4.0, 3);
/// assert_eq!((m.mean(), m.count(), m.sum()), (3.5, 4, 14.0));
/// m.reset();
/// assert_eq!(m.mean(), 0.0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RunningMean {
    sum: f64,
    count: u64,
}

impl RunningMean {
    /// Nothing counted yet.
    ///
    /// ```
    /// use ferrite_nn::metrics::RunningMean;
    /// assert_eq!(RunningMean::new().count(), 0);
    /// ```
    pub fn new() -> Self {
        RunningMean::default()
    }

    /// Adds `value` with weight `n` (a batch mean and the batch's length).
    ///
    /// ```
    /// use ferrite_nn::metrics::RunningMean;
    /// let mut m = RunningMean::new();
    /// m.update(1.5, 2);
    /// assert_eq!(m.sum(), 3.0);
    /// ```
    pub fn update(&mut self, value: f64, n: usize) {
        self.sum += value * n as f64;
        self.count += n as u64;
    }

    /// The weighted mean (0 when nothing was counted).
    ///
    /// ```
    /// use ferrite_nn::metrics::RunningMean;
    /// assert_eq!(RunningMean::new().mean(), 0.0);
    /// ```
    pub fn mean(&self) -> f64 {
        self.sum / self.count.max(1) as f64
    }

    /// The weighted sum.
    ///
    /// ```
    /// use ferrite_nn::metrics::RunningMean;
    /// assert_eq!(RunningMean::new().sum(), 0.0);
    /// ```
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// The total weight.
    ///
    /// ```
    /// use ferrite_nn::metrics::RunningMean;
    /// let mut m = RunningMean::new();
    /// m.update(1.0, 64);
    /// assert_eq!(m.count(), 64);
    /// ```
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Forgets everything (at the start of an epoch).
    ///
    /// ```
    /// use ferrite_nn::metrics::RunningMean;
    /// let mut m = RunningMean::new();
    /// m.update(1.0, 1);
    /// m.reset();
    /// assert_eq!(m.count(), 0);
    /// ```
    pub fn reset(&mut self) {
        *self = RunningMean::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_matches_the_mnist_eval_table_and_widens() {
        let mut cm = ConfusionMatrix::new(10);
        let labels: Vec<usize> = (0..10).collect();
        cm.update(&labels, &labels).unwrap();
        let text = cm.to_string();
        let first = text.lines().next().unwrap();
        assert_eq!(
            first,
            format!(
                "      {}",
                (0..10).map(|c| format!("{c:>5}")).collect::<String>()
            )
        );
        assert_eq!(
            text.lines().nth(1).unwrap(),
            "    0     1    0    0    0    0    0    0    0    0    0"
        );
        let mut big = ConfusionMatrix::new(2);
        big.update(&vec![0; 123_456], &vec![0; 123_456]).unwrap();
        assert_eq!(
            big.to_string().lines().nth(1).unwrap(),
            "      0  123456      0"
        );
    }

    #[test]
    fn refuses_bad_inputs_without_counting() {
        let mut cm = ConfusionMatrix::new(3);
        assert!(cm.update(&[0, 1], &[0]).is_err());
        assert_eq!(
            cm.update(&[0, 3], &[0, 0]).unwrap_err().to_string(),
            "ConfusionMatrix::update: expected classes 0 to 2, found 3"
        );
        assert_eq!(cm.total(), 0);
        let logits = Tensor::<f32>::zeros(&[2, 3]);
        assert!(cm.update_from_logits(&logits, &[0]).is_err());
        assert!(accuracy(&Tensor::<f32>::zeros(&[2]), &[0, 0]).is_err());
        assert_eq!(accuracy(&Tensor::<f32>::zeros(&[0, 3]), &[]).unwrap(), 0.0);
    }

    #[test]
    fn f64_logits_and_ties_take_the_first_index() {
        let logits = Tensor::from_vec(vec![1.0f64, 1.0, 0.0, 2.0], &[2, 2]).unwrap();
        assert_eq!(accuracy(&logits, &[0, 1]).unwrap(), 1.0);
    }
}
