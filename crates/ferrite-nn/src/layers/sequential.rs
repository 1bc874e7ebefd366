//! `Sequential`: layers applied one after another, like `torch.nn.Sequential`.

use ferrite_autograd::Var;
use ferrite_tensor::{Float, Result};

use crate::Module;
use crate::ModuleExt;

/// Layers applied in order, each named (`"0"`, `"1"`, ... by default, or a name of your
/// choice, as with PyTorch's `Sequential(OrderedDict(...))`). Parameter names are
/// `<layer name>.<parameter>`, e.g. `conv1.weight`.
///
/// ```
/// use ferrite_autograd::Var;
/// use ferrite_nn::{Flatten, Linear, Module, ReLU, Sequential, ModuleExt};
/// use ferrite_tensor::Tensor;
/// let model = Sequential::new()
///     .add_module("flatten", Flatten::new())
///     .add_module("fc1", Linear::new(4, 8))
///     .append(ReLU)
///     .add_module("fc2", Linear::new(8, 2));
/// let names: Vec<String> = model.named_parameters().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]);
/// let y = model.forward(&Var::new(Tensor::<f32>::ones(&[3, 2, 2])))?;
/// assert_eq!(y.shape(), vec![3, 2]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub struct Sequential<T: Float = f32> {
    layers: Vec<(String, Box<dyn Module<T>>)>,
}

impl<T: Float> Default for Sequential<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Float> std::fmt::Debug for Sequential<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "Sequential(")?;
        for (name, layer) in &self.layers {
            writeln!(f, "  ({name}): {}", layer.describe())?;
        }
        write!(f, ")")
    }
}

impl<T: Float> Sequential<T> {
    /// An empty container.
    pub fn new() -> Self {
        Sequential { layers: Vec::new() }
    }

    /// Adds a layer named by its position, like `nn.Sequential.append`: the name is the
    /// current number of layers (`"0"`, `"1"`, ...), given to [`add_module`](Self::add_module).
    /// As in PyTorch, when a layer already has that name (given to `add_module` earlier),
    /// the new layer replaces it.
    ///
    /// ```
    /// use ferrite_nn::{Linear, ReLU, Sequential};
    /// let model = Sequential::<f32>::new()
    ///     .append(Linear::new(4, 8))
    ///     .append(ReLU);
    /// assert!(model.get("0").is_some() && model.get("1").is_some());
    /// assert_eq!(model.len(), 2);
    /// ```
    pub fn append(self, layer: impl Module<T> + 'static) -> Self {
        let name = self.layers.len().to_string();
        self.add_module(name, layer)
    }

    /// Adds a layer with a name of your choice, like `nn.Module.add_module`: appended after
    /// the others, or, when a layer already has that name, put in its place (PyTorch's
    /// modules are an `OrderedDict`: assigning an existing key replaces its value and keeps
    /// its position). The names of a `Sequential` are therefore always distinct, and so are
    /// the keys of its `state_dict`.
    ///
    /// ```
    /// use ferrite_nn::{Linear, Module, ReLU, Sequential, ModuleExt};
    /// let model = Sequential::<f32>::new()
    ///     .add_module("fc", Linear::new(4, 8))
    ///     .add_module("act", ReLU)
    ///     .add_module("fc", Linear::new(4, 2)); // replaces the first "fc"
    /// assert_eq!(model.len(), 2);
    /// assert_eq!(model.get("fc").unwrap().describe(), "Linear(in_features=4, out_features=2, bias=true)");
    /// assert_eq!(model.named_parameters().len(), 2);
    /// ```
    pub fn add_module(mut self, name: impl Into<String>, layer: impl Module<T> + 'static) -> Self {
        let name = name.into();
        let layer: Box<dyn Module<T>> = Box::new(layer);
        match self.layers.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = layer,
            None => self.layers.push((name, layer)),
        }
        self
    }

    /// The number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// True when there are no layers.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The layer called `name`, if any.
    pub fn get(&self, name: &str) -> Option<&dyn Module<T>> {
        self.layers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, l)| l.as_ref() as &dyn Module<T>)
    }
}

impl<T: Float> Module<T> for Sequential<T> {
    /// # Shapes
    /// Whatever the first layer takes; whatever the last returns.
    fn forward(&self, input: &Var<T>) -> Result<Var<T>> {
        let mut x = input.clone();
        for (_, layer) in &self.layers {
            x = layer.call(&x)?;
        }
        Ok(x)
    }

    fn type_name(&self) -> &'static str {
        "Sequential"
    }

    fn children(&self) -> Vec<(String, &dyn Module<T>)> {
        self.layers
            .iter()
            .map(|(n, l)| (n.clone(), l.as_ref() as &dyn Module<T>))
            .collect()
    }
}
