//! [`grad`]: gradients of outputs with respect to chosen inputs, returned instead of
//! accumulated (`torch.autograd.grad`), optionally on a graph of their own (`create_graph`)
//! so they can be differentiated again.

use std::collections::HashMap;

use ferrite_tensor::{Float, Result, Tensor, TensorError};

use crate::Var;
use crate::backward::{Pass, check_root, run_pass};
use crate::mode::enable_grad;

/// The switches of [`grad`], with PyTorch's defaults: `retain_graph` follows `create_graph`
/// unless set, `create_graph` and `allow_unused` are off.
///
/// ```
/// use ferrite_autograd::GradOptions;
/// let o = GradOptions::default().with_create_graph(true);
/// assert!(o.create_graph() && o.retain_graph() && !o.allow_unused());
/// ```
#[derive(Clone, Debug, Default)]
pub struct GradOptions {
    retain_graph: Option<bool>,
    create_graph: bool,
    allow_unused: bool,
}

impl GradOptions {
    /// Keep the graph after the pass, so another pass can go through it.
    ///
    /// ```
    /// use ferrite_autograd::GradOptions;
    /// assert!(GradOptions::default().with_retain_graph(true).retain_graph());
    /// ```
    pub fn with_retain_graph(mut self, retain_graph: bool) -> Self {
        self.retain_graph = Some(retain_graph);
        self
    }

    /// Record the gradients' own graph, so they can be differentiated again (for ops with a
    /// double backward; differentiating through one without is an error naming it).
    ///
    /// ```
    /// use ferrite_autograd::GradOptions;
    /// assert!(GradOptions::default().with_create_graph(true).create_graph());
    /// ```
    pub fn with_create_graph(mut self, create_graph: bool) -> Self {
        self.create_graph = create_graph;
        self
    }

    /// Return `None` for an input the outputs do not depend on, instead of an error.
    ///
    /// ```
    /// use ferrite_autograd::GradOptions;
    /// assert!(GradOptions::default().with_allow_unused(true).allow_unused());
    /// ```
    pub fn with_allow_unused(mut self, allow_unused: bool) -> Self {
        self.allow_unused = allow_unused;
        self
    }

    /// Whether the graph is kept (by default: when `create_graph` is on).
    ///
    /// ```
    /// assert!(!ferrite_autograd::GradOptions::default().retain_graph());
    /// ```
    pub fn retain_graph(&self) -> bool {
        self.retain_graph.unwrap_or(self.create_graph)
    }

    /// Whether the gradients get a graph of their own.
    ///
    /// ```
    /// assert!(!ferrite_autograd::GradOptions::default().create_graph());
    /// ```
    pub fn create_graph(&self) -> bool {
        self.create_graph
    }

    /// Whether unused inputs give `None` rather than an error.
    ///
    /// ```
    /// assert!(!ferrite_autograd::GradOptions::default().allow_unused());
    /// ```
    pub fn allow_unused(&self) -> bool {
        self.allow_unused
    }
}

/// The gradients of `sum_i(outputs[i] · grad_outputs[i])` with respect to each of `inputs`,
/// like `torch.autograd.grad`. `.grad` fields are left alone. Without `grad_outputs`, every
/// output must have one element and gets the gradient 1. Inputs may be leaves or
/// intermediate values; the result has one entry per input, `None` only for an unused input
/// with `allow_unused`. With `create_graph` the gradients are `Var`s on a graph (whose
/// leaves include `grad_outputs`, if they require a gradient) and can be differentiated
/// again: gradient penalties, Hessian-vector products.
///
/// # Errors
/// When `outputs` is empty, `grad_outputs` has another length or a shape differing from its
/// output, an output needs an implicit gradient but has more than one element, an output or
/// an input does not require a gradient, an input is unused without `allow_unused`, the
/// graph was freed by an earlier pass, or a second derivative goes through an op without a
/// double backward.
///
/// ```
/// use ferrite_autograd::{grad, GradOptions, Var};
/// use ferrite_tensor::Tensor;
/// // Hessian-vector product of f(x) = Σ x³ at x = [1, 2] along v = [1, 1]: 6·x·v.
/// let x = Var::parameter(Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2])?);
/// let f = x.mul(&x)?.mul(&x)?.sum_all()?;
/// let options = GradOptions::default().with_create_graph(true);
/// let g = grad(&[f], &[x.clone()], None, &options)?.remove(0).unwrap(); // 3x²
/// let v = Var::new(Tensor::ones(&[2]));
/// let hv = grad(&[g.mul(&v)?.sum_all()?], &[x], None, &GradOptions::default())?;
/// assert_eq!(hv[0].as_ref().unwrap().value().to_vec(), vec![6.0, 12.0]);
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn grad<T: Float>(
    outputs: &[Var<T>],
    inputs: &[Var<T>],
    grad_outputs: Option<&[Var<T>]>,
    options: &GradOptions,
) -> Result<Vec<Option<Var<T>>>> {
    let roots = root_gradients(outputs, grad_outputs)?;
    let mut capture = HashMap::new();
    for (i, input) in inputs.iter().enumerate() {
        if !input.requires_grad() {
            return Err(TensorError::invalid(
                "grad",
                format!("input {i} does not require a gradient, so it has none"),
            ));
        }
        let next = capture.len();
        capture.entry(input.id()).or_insert(next);
    }
    let pass = Pass {
        retain_graph: options.retain_graph(),
        accumulate: false,
        capture,
        stop: Default::default(),
    };
    let captured: Vec<Option<Var<T>>> = if options.create_graph() {
        enable_grad(|| run_pass(roots, &pass))?
    } else {
        let roots = roots.into_iter().map(|(o, g)| (o, g.value())).collect();
        let tensors: Vec<Option<Tensor<T>>> = run_pass(roots, &pass)?;
        tensors.into_iter().map(|t| t.map(Var::new)).collect()
    };
    let mut out = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.iter().enumerate() {
        let got = captured[pass.capture[&input.id()]].clone();
        if got.is_none() && !options.allow_unused() {
            return Err(TensorError::invalid(
                "grad",
                format!(
                    "input {i} (shape {:?}) was not used to compute the outputs; pass allow_unused to get None for it",
                    input.shape()
                ),
            ));
        }
        out.push(got);
    }
    Ok(out)
}

/// Each output with the gradient it starts from, checked.
fn root_gradients<T: Float>(
    outputs: &[Var<T>],
    grad_outputs: Option<&[Var<T>]>,
) -> Result<Vec<(Var<T>, Var<T>)>> {
    if outputs.is_empty() {
        return Err(TensorError::invalid(
            "grad",
            "expected at least one output, found none",
        ));
    }
    if let Some(g) = grad_outputs
        && g.len() != outputs.len()
    {
        return Err(TensorError::invalid(
            "grad",
            format!(
                "expected one grad_output per output ({}), found {}",
                outputs.len(),
                g.len()
            ),
        ));
    }
    let mut roots = Vec::with_capacity(outputs.len());
    for (i, output) in outputs.iter().enumerate() {
        let g = match grad_outputs {
            Some(g) => g[i].clone(),
            None => {
                let shape = output.shape();
                if shape.iter().product::<usize>() != 1 {
                    return Err(TensorError::shape(
                        "grad",
                        format!(
                            "a gradient can be implied only for one-element outputs, found output {i} of shape {shape:?}; pass grad_outputs"
                        ),
                    ));
                }
                Var::new(Tensor::ones(&shape))
            }
        };
        check_root("grad", i, output, &g.shape())?;
        roots.push((output.clone(), g));
    }
    Ok(roots)
}
