//! [`StateDict`]: a model's parameters and buffers by name, and the functions that take one
//! from a model ([`state_dict`]) and put one back ([`load_state_dict`]).

use std::collections::{HashMap, HashSet};
use std::fmt;

use ferrite_autograd::Var;
use ferrite_tensor::{Float, Tensor};

use crate::{Module, NnError};

/// An ordered map from dotted names (`conv1.weight`) to tensors: PyTorch's `state_dict()`.
///
/// Entries keep their insertion order (like PyTorch's `OrderedDict`); inserting an existing
/// name replaces its tensor in place. The tensors are snapshots: training the model after
/// [`state_dict`] does not change them (ferrite's tensors are immutable values).
///
/// ```
/// use ferrite_nn::StateDict;
/// use ferrite_tensor::Tensor;
/// let mut sd = StateDict::<f32>::new();
/// sd.insert("fc.weight", Tensor::zeros(&[2, 3]));
/// sd.insert("fc.bias", Tensor::zeros(&[2]));
/// assert_eq!(sd.keys().collect::<Vec<_>>(), ["fc.weight", "fc.bias"]);
/// assert_eq!(sd.get("fc.bias").map(|t| t.shape().to_vec()), Some(vec![2]));
/// assert_eq!(sd.num_elements(), 8);
/// ```
#[derive(Clone, PartialEq)]
pub struct StateDict<T: Float = f32> {
    entries: Vec<(String, Tensor<T>)>,
    index: HashMap<String, usize>,
}

impl<T: Float> Default for StateDict<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Float> fmt::Debug for StateDict<T> {
    /// Names and shapes only (the values of a real model would flood the terminal).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.entries.iter().map(|(n, t)| (n, t.shape())))
            .finish()
    }
}

impl<T: Float> StateDict<T> {
    /// An empty state dict.
    ///
    /// ```
    /// use ferrite_nn::StateDict;
    /// assert!(StateDict::<f64>::new().is_empty());
    /// ```
    pub fn new() -> Self {
        StateDict {
            entries: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// The number of entries.
    ///
    /// ```
    /// use ferrite_nn::StateDict;
    /// use ferrite_tensor::Tensor;
    /// let sd: StateDict = [("w".to_string(), Tensor::ones(&[2]))].into_iter().collect();
    /// assert_eq!(sd.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no entries.
    ///
    /// ```
    /// use ferrite_nn::StateDict;
    /// assert!(StateDict::<f32>::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Inserts `tensor` under `name`; returns the tensor it replaces, if any (a replaced
    /// entry keeps its position).
    ///
    /// ```
    /// use ferrite_nn::StateDict;
    /// use ferrite_tensor::Tensor;
    /// let mut sd = StateDict::<f32>::new();
    /// assert!(sd.insert("a", Tensor::zeros(&[1])).is_none());
    /// sd.insert("b", Tensor::zeros(&[1]));
    /// assert!(sd.insert("a", Tensor::ones(&[1])).is_some());
    /// assert_eq!(sd.keys().collect::<Vec<_>>(), ["a", "b"]);
    /// assert_eq!(sd.get("a").unwrap().to_vec(), vec![1.0]);
    /// ```
    pub fn insert(&mut self, name: impl Into<String>, tensor: Tensor<T>) -> Option<Tensor<T>> {
        let name = name.into();
        match self.index.get(&name) {
            Some(&i) => Some(std::mem::replace(&mut self.entries[i].1, tensor)),
            None => {
                self.index.insert(name.clone(), self.entries.len());
                self.entries.push((name, tensor));
                None
            }
        }
    }

    /// The tensor called `name`, if any.
    ///
    /// ```
    /// use ferrite_nn::StateDict;
    /// use ferrite_tensor::Tensor;
    /// let mut sd = StateDict::<f32>::new();
    /// sd.insert("w", Tensor::ones(&[3]));
    /// assert!(sd.get("w").is_some() && sd.get("v").is_none());
    /// ```
    pub fn get(&self, name: &str) -> Option<&Tensor<T>> {
        self.index.get(name).map(|&i| &self.entries[i].1)
    }

    /// True when there is an entry called `name`.
    ///
    /// ```
    /// use ferrite_nn::StateDict;
    /// use ferrite_tensor::Tensor;
    /// let mut sd = StateDict::<f32>::new();
    /// sd.insert("w", Tensor::ones(&[3]));
    /// assert!(sd.contains_key("w"));
    /// ```
    pub fn contains_key(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// Removes and returns the entry called `name` (the others keep their order).
    ///
    /// ```
    /// use ferrite_nn::StateDict;
    /// use ferrite_tensor::Tensor;
    /// let mut sd = StateDict::<f32>::new();
    /// sd.insert("a", Tensor::ones(&[1]));
    /// sd.insert("b", Tensor::ones(&[2]));
    /// assert_eq!(sd.remove("a").map(|t| t.numel()), Some(1));
    /// assert_eq!(sd.keys().collect::<Vec<_>>(), ["b"]);
    /// assert!(sd.remove("a").is_none());
    /// ```
    pub fn remove(&mut self, name: &str) -> Option<Tensor<T>> {
        let i = self.index.remove(name)?;
        let (_, tensor) = self.entries.remove(i);
        for (_, slot) in self.index.iter_mut() {
            if *slot > i {
                *slot -= 1;
            }
        }
        Some(tensor)
    }

    /// The names, in order.
    ///
    /// ```
    /// use ferrite_nn::StateDict;
    /// use ferrite_tensor::Tensor;
    /// let mut sd = StateDict::<f32>::new();
    /// sd.insert("z", Tensor::ones(&[1]));
    /// sd.insert("a", Tensor::ones(&[1]));
    /// assert_eq!(sd.keys().collect::<Vec<_>>(), ["z", "a"]);
    /// ```
    pub fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.entries.iter().map(|(n, _)| n.as_str())
    }

    /// The entries, in order.
    ///
    /// ```
    /// use ferrite_nn::StateDict;
    /// use ferrite_tensor::Tensor;
    /// let mut sd = StateDict::<f32>::new();
    /// sd.insert("w", Tensor::ones(&[2, 2]));
    /// for (name, t) in sd.iter() {
    ///     assert_eq!((name, t.shape()), ("w", &[2, 2][..]));
    /// }
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor<T>)> + '_ {
        self.entries.iter().map(|(n, t)| (n.as_str(), t))
    }

    /// The total number of scalars in all tensors.
    ///
    /// ```
    /// use ferrite_nn::StateDict;
    /// use ferrite_tensor::Tensor;
    /// let mut sd = StateDict::<f32>::new();
    /// sd.insert("w", Tensor::ones(&[2, 3]));
    /// sd.insert("b", Tensor::ones(&[2]));
    /// assert_eq!(sd.num_elements(), 8);
    /// ```
    pub fn num_elements(&self) -> usize {
        self.entries.iter().map(|(_, t)| t.numel()).sum()
    }

    /// The entries whose names start with `prefix`, with the prefix removed; the others are
    /// left out. Takes the model's part of a checkpoint dict (`"model."`) or removes the
    /// `"module."` that `DataParallel` adds.
    ///
    /// ```
    /// use ferrite_nn::StateDict;
    /// use ferrite_tensor::Tensor;
    /// let mut sd = StateDict::<f32>::new();
    /// sd.insert("model.fc.weight", Tensor::zeros(&[2, 3]));
    /// sd.insert("optimizer.state.0.momentum_buffer", Tensor::zeros(&[2, 3]));
    /// sd.insert("model.fc.bias", Tensor::zeros(&[2]));
    /// let model = sd.strip_prefix("model.");
    /// assert_eq!(model.keys().collect::<Vec<_>>(), ["fc.weight", "fc.bias"]);
    /// ```
    pub fn strip_prefix(&self, prefix: &str) -> StateDict<T> {
        self.iter()
            .filter_map(|(n, t)| Some((n.strip_prefix(prefix)?.to_string(), t.clone())))
            .collect()
    }

    /// The same entries converted to another float type (`f64` -> `f32` rounds to nearest).
    ///
    /// ```
    /// use ferrite_nn::StateDict;
    /// use ferrite_tensor::Tensor;
    /// let mut sd = StateDict::<f32>::new();
    /// sd.insert("w", Tensor::full(&[2], 0.5));
    /// let sd64: StateDict<f64> = sd.cast();
    /// assert_eq!(sd64.get("w").unwrap().to_vec(), vec![0.5f64, 0.5]);
    /// ```
    pub fn cast<U: Float>(&self) -> StateDict<U> {
        self.iter()
            .map(|(n, t)| (n.to_string(), t.cast()))
            .collect()
    }
}

impl<T: Float, S: Into<String>> FromIterator<(S, Tensor<T>)> for StateDict<T> {
    /// Collects entries in order; a repeated name replaces the earlier tensor in place.
    fn from_iter<I: IntoIterator<Item = (S, Tensor<T>)>>(iter: I) -> Self {
        let mut sd = StateDict::new();
        for (name, tensor) in iter {
            sd.insert(name, tensor);
        }
        sd
    }
}

impl<T: Float> IntoIterator for StateDict<T> {
    type Item = (String, Tensor<T>);
    type IntoIter = std::vec::IntoIter<(String, Tensor<T>)>;
    /// The entries, in order.
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

/// Whether [`load_state_dict`] insists on an exact fit (PyTorch's `strict=` argument).
///
/// ```
/// use ferrite_nn::Strict;
/// assert_eq!(Strict::from(true), Strict::Yes);
/// assert_eq!(Strict::default(), Strict::Yes);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strict {
    /// Refuse the state dict (and change nothing) unless every key of the model is present
    /// with the right shape and no other key is: PyTorch's default.
    #[default]
    Yes,
    /// Load the keys that fit and report the others.
    No,
}

impl From<bool> for Strict {
    fn from(strict: bool) -> Self {
        if strict { Strict::Yes } else { Strict::No }
    }
}

/// How a state dict fitted a model: what [`load_state_dict`] could not load.
///
/// ```
/// use ferrite_nn::LoadReport;
/// let r = LoadReport {
///     missing: vec!["fc3.weight".into()],
///     unexpected: vec!["fc2.weight".into()],
///     mismatched: vec![("conv1.weight".into(), vec![16, 1, 3, 3], vec![8, 1, 3, 3])],
/// };
/// assert!(!r.is_clean());
/// assert_eq!(
///     r.to_string(),
///     "missing keys [fc3.weight]; unexpected keys [fc2.weight]; \
///      wrong shapes [conv1.weight: model [16, 1, 3, 3], checkpoint [8, 1, 3, 3]]"
/// );
/// assert!(LoadReport::default().is_clean());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LoadReport {
    /// Keys of the model that the state dict lacks (left unchanged), in model order.
    pub missing: Vec<String>,
    /// Keys of the state dict that the model does not have (ignored), in state-dict order.
    pub unexpected: Vec<String>,
    /// Keys present in both with different shapes (left unchanged): name, the model's
    /// shape, the state dict's shape.
    pub mismatched: Vec<(String, Vec<usize>, Vec<usize>)>,
}

impl LoadReport {
    /// True when every key matched: nothing missing, unexpected or mismatched.
    ///
    /// ```
    /// use ferrite_nn::LoadReport;
    /// assert!(LoadReport::default().is_clean());
    /// ```
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.mismatched.is_empty()
    }
}

/// At most this many names per list in a message; the rest are counted.
const MAX_LISTED: usize = 20;

fn list<I: ExactSizeIterator<Item = String>>(items: I) -> String {
    let total = items.len();
    let mut shown: Vec<String> = items.take(MAX_LISTED).collect();
    if total > MAX_LISTED {
        shown.push(format!("... and {} more", total - MAX_LISTED));
    }
    format!("[{}]", shown.join(", "))
}

impl fmt::Display for LoadReport {
    /// The non-empty lists, e.g. `missing keys [a, b]; wrong shapes [c: model [2], checkpoint [3]]`
    /// (`all keys matched` when clean). Long lists are cut after 20 names.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.missing.is_empty() {
            parts.push(format!(
                "missing keys {}",
                list(self.missing.iter().cloned())
            ));
        }
        if !self.unexpected.is_empty() {
            parts.push(format!(
                "unexpected keys {}",
                list(self.unexpected.iter().cloned())
            ));
        }
        if !self.mismatched.is_empty() {
            parts.push(format!(
                "wrong shapes {}",
                list(
                    self.mismatched
                        .iter()
                        .map(|(n, m, c)| format!("{n}: model {m:?}, checkpoint {c:?}"))
                )
            ));
        }
        if parts.is_empty() {
            write!(f, "all keys matched")
        } else {
            write!(f, "{}", parts.join("; "))
        }
    }
}

/// Every parameter and buffer of `model` with its dotted name, in PyTorch's `state_dict`
/// order: for each module its own parameters, then its own buffers, then its children in
/// order.
pub(crate) fn named_state<T: Float>(model: &dyn Module<T>) -> Vec<(String, Var<T>)> {
    crate::module::named(model, |m| {
        let mut own = m.own_parameters();
        own.extend(m.own_buffers());
        own
    })
}

/// The parameters and buffers of `model` by name: PyTorch's `model.state_dict()`.
///
/// The order is PyTorch's: each module's own parameters, then its own buffers, then its
/// children. The tensors are snapshots (cheap shared copies) of the current values.
///
/// ```
/// use ferrite_nn::{state_dict, Conv2d, Flatten, Linear, ReLU, Sequential};
/// let model = Sequential::<f32>::new()
///     .add_module("conv1", Conv2d::new(1, 2, 3))
///     .add_module("relu", ReLU)
///     .add_module("flatten", Flatten::new())
///     .add_module("fc1", Linear::new(8, 3));
/// let sd = state_dict(&model);
/// assert_eq!(
///     sd.keys().collect::<Vec<_>>(),
///     ["conv1.weight", "conv1.bias", "fc1.weight", "fc1.bias"]
/// );
/// assert_eq!(sd.get("conv1.weight").unwrap().shape(), &[2, 1, 3, 3]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn state_dict<T: Float>(model: &dyn Module<T>) -> StateDict<T> {
    named_state(model)
        .into_iter()
        .map(|(name, var)| (name, var.value()))
        .collect()
}

/// Copies the tensors of `state` into the parameters and buffers of `model` with the same
/// names: PyTorch's `model.load_state_dict(state, strict=...)`.
///
/// Everything is checked before anything is assigned. With [`Strict::Yes`] a missing,
/// unexpected or wrong-shape key refuses the whole state dict and leaves the model
/// unchanged; with [`Strict::No`] the keys that fit are loaded and the others are reported
/// in the returned [`LoadReport`] (unlike PyTorch, which raises on a shape mismatch even
/// when not strict, a wrong-shape key is then skipped and reported).
///
/// # Errors
/// - [`NnError::StateDict`] in strict mode when the state dict does not fit; the message
///   lists every missing, unexpected and wrong-shape key, e.g.
///   `load_state_dict: checkpoint does not fit the model: missing keys [fc3.weight];
///   unexpected keys [fc2.weight]; wrong shapes [conv1.weight: model [16, 1, 3, 3],
///   checkpoint [8, 1, 3, 3]]`.
/// - [`NnError::StateDict`] in either mode when a parameter of the model to be assigned is
///   not a leaf (not a parameter or a constant); nothing is assigned then either.
///
/// ```
/// use ferrite_nn::{load_state_dict, state_dict, Linear, Sequential, Strict};
/// let a = Sequential::<f32>::new().add_module("fc1", Linear::new(4, 2));
/// let b = Sequential::<f32>::new().add_module("fc1", Linear::new(4, 2));
/// let report = load_state_dict(&b, &state_dict(&a), Strict::Yes)?;
/// assert!(report.is_clean());
/// assert!(state_dict(&a) == state_dict(&b));
///
/// // A different model is refused and left unchanged.
/// let c = Sequential::<f32>::new().add_module("fc2", Linear::new(4, 3));
/// let before = state_dict(&c);
/// let err = load_state_dict(&c, &state_dict(&a), Strict::Yes).unwrap_err();
/// assert!(err.to_string().contains("missing keys [fc2.weight, fc2.bias]"));
/// assert!(state_dict(&c) == before);
/// // Non-strict: nothing fits, everything is reported.
/// let report = load_state_dict(&c, &state_dict(&a), Strict::No)?;
/// assert_eq!(report.unexpected, ["fc1.weight", "fc1.bias"]);
/// # Ok::<(), ferrite_nn::NnError>(())
/// ```
pub fn load_state_dict<T: Float>(
    model: &dyn Module<T>,
    state: &StateDict<T>,
    strict: Strict,
) -> Result<LoadReport, NnError> {
    let targets = named_state(model);
    let mut report = LoadReport::default();
    let mut assignments: Vec<(&str, &Var<T>, &Tensor<T>)> = Vec::new();
    let mut model_keys: HashSet<&str> = HashSet::with_capacity(targets.len());
    for (name, var) in &targets {
        model_keys.insert(name.as_str());
        match state.get(name) {
            None => report.missing.push(name.clone()),
            Some(tensor) => {
                let shape = var.shape();
                if shape.as_slice() != tensor.shape() {
                    report
                        .mismatched
                        .push((name.clone(), shape, tensor.shape().to_vec()));
                } else {
                    assignments.push((name, var, tensor));
                }
            }
        }
    }
    report.unexpected = state
        .keys()
        .filter(|k| !model_keys.contains(k))
        .map(str::to_string)
        .collect();

    if strict == Strict::Yes && !report.is_clean() {
        return Err(NnError::StateDict {
            message: format!("load_state_dict: checkpoint does not fit the model: {report}"),
            report,
        });
    }
    if let Some((name, var, _)) = assignments.iter().find(|(_, v, _)| !v.is_leaf()) {
        return Err(NnError::StateDict {
            message: format!(
                "load_state_dict: '{name}' of the model is the result of '{}', not a parameter \
                 or buffer that can be assigned; nothing was loaded",
                var.op()
            ),
            report,
        });
    }
    for (_, var, tensor) in assignments {
        // Shapes and leaf-ness were checked above, so this cannot fail.
        var.set_value((*tensor).clone())?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Linear, Sequential};
    use ferrite_tensor::Result;

    /// A module whose parameter is the result of an op (not a leaf).
    struct Derived(Var<f32>);
    impl Module<f32> for Derived {
        fn forward(&self, input: &Var<f32>) -> Result<Var<f32>> {
            Ok(input.clone())
        }
        fn type_name(&self) -> &'static str {
            "Derived"
        }
        fn own_parameters(&self) -> Vec<(String, Var<f32>)> {
            vec![("w".into(), self.0.clone())]
        }
        fn own_buffers(&self) -> Vec<(String, Var<f32>)> {
            vec![("running".into(), Var::new(Tensor::zeros(&[1])))]
        }
    }

    #[test]
    fn order_is_per_module_params_then_buffers_then_children() {
        let w = Var::parameter(Tensor::<f32>::ones(&[2]));
        let model = Sequential::new()
            .add_module("a", Derived(w.relu().unwrap()))
            .add_module("b", Linear::new(2, 2));
        let sd = state_dict(&model);
        assert_eq!(
            sd.keys().collect::<Vec<_>>(),
            ["a.w", "a.running", "b.weight", "b.bias"]
        );
    }

    #[test]
    fn non_leaf_target_is_refused_before_anything_is_assigned() {
        let w = Var::parameter(Tensor::<f32>::ones(&[2]));
        let model = Sequential::new()
            .add_module("b", Linear::new(2, 2))
            .add_module("a", Derived(w.relu().unwrap()));
        let before = state_dict(&model);
        let mut sd = before.cast::<f32>();
        sd.insert("b.bias", Tensor::full(&[2], 7.0));
        for strict in [Strict::Yes, Strict::No] {
            let err = load_state_dict(&model, &sd, strict).unwrap_err();
            assert!(err.to_string().contains("'a.w'"), "{err}");
            assert!(state_dict(&model) == before, "nothing may be assigned");
        }
    }

    #[test]
    fn long_lists_are_cut() {
        let r = LoadReport {
            missing: (0..25).map(|i| format!("k{i}")).collect(),
            ..Default::default()
        };
        let s = r.to_string();
        assert!(s.contains("k19, ... and 5 more]"), "{s}");
        assert!(!s.contains("k20"));
    }

    #[test]
    fn remove_keeps_index_consistent() {
        let mut sd: StateDict = ["a", "b", "c"]
            .into_iter()
            .map(|n| (n, Tensor::ones(&[1])))
            .collect();
        sd.remove("a");
        assert!(sd.get("c").is_some() && sd.get("b").is_some());
        sd.insert("c", Tensor::zeros(&[1]));
        assert_eq!(sd.keys().collect::<Vec<_>>(), ["b", "c"]);
        assert_eq!(sd.get("c").unwrap().to_vec(), vec![0.0]);
    }
}
