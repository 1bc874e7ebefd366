//! [`summary`]: a torchinfo-style table of a model's layers, output shapes, parameter counts
//! and multiply-adds, computed by running one input of the given shape through it.

use std::fmt;

use ferrite_autograd::{Var, no_grad};
use ferrite_tensor::{Float, Result, Tensor};

use crate::{Module, ModuleExt, visit_modules};

/// One row of a [`Summary`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryRow {
    /// Dotted name (`conv1`), or the type for an unnamed top-level module.
    pub name: String,
    /// Layer type (`Conv2d`).
    pub kind: String,
    /// The layer's one-line description with its settings.
    pub description: String,
    /// Output shape for the summarised input.
    pub output_shape: Vec<usize>,
    /// Parameters held by this layer.
    pub params: usize,
    /// Multiply-adds for the summarised input (the whole batch).
    pub multiply_adds: u64,
}

/// The table printed by [`summary`]; `Display` formats it like torchinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The input shape the model was run on.
    pub input_shape: Vec<usize>,
    /// One row per leaf layer, in order of application.
    pub rows: Vec<SummaryRow>,
    /// All parameters of the model.
    pub total_params: usize,
    /// Sum of the rows' multiply-adds.
    pub total_multiply_adds: u64,
}

/// Runs a zero input of `input_shape` through `model` (without recording a graph) and lists
/// each layer with its output shape, parameter count and multiply-adds. A [`Sequential`]
/// is listed layer by layer; any other module with children appears as one row.
///
/// The model is left as it was: the layers run in their current mode, but ferrite's layers
/// do not update their buffers during the summary (a [`BatchNorm2d`] in training mode
/// normalises with the batch's statistics without updating its running statistics or
/// `num_batches_tracked`), and any other buffer that the forward pass changed (a module of
/// your own) is given its value back afterwards.
///
/// [`Sequential`]: crate::Sequential
/// [`BatchNorm2d`]: crate::BatchNorm2d
///
/// # Errors
/// When no buffer can hold an input of `input_shape` (see [`ferrite_tensor::checked_numel`];
/// the message names `summary` and the shape), or when the
/// model refuses an input of that shape (the layer's own error).
///
/// ```
/// use ferrite_nn::{Conv2d, Flatten, Linear, ReLU, Sequential, summary};
/// let model = Sequential::<f32>::new()
///     .add_module("conv1", Conv2d::new(1, 1, 3).with_stride(2))
///     .append(ReLU)
///     .add_module("flatten", Flatten::new())
///     .add_module("fc", Linear::new(16, 2));
/// let s = summary(&model, &[1, 1, 9, 9])?;
/// assert_eq!(s.rows[0].output_shape, vec![1, 1, 4, 4]); // (9 - 3) / 2 + 1 = 4
/// assert_eq!(s.total_params, 10 + 34);
/// assert_eq!(s.rows[0].multiply_adds, 16 * 9);
/// println!("{s}");
/// let err = summary(&model, &[usize::MAX / 2, 4]).unwrap_err();
/// assert!(err.to_string().starts_with("summary: shape [9223372036854775807, 4]"));
/// # Ok::<(), ferrite_tensor::TensorError>(())
/// ```
pub fn summary<T: Float>(model: &dyn Module<T>, input_shape: &[usize]) -> Result<Summary> {
    ferrite_tensor::checked_numel("summary", input_shape)?;
    let mut rows = Vec::new();
    let input = Var::new(Tensor::<T>::zeros(input_shape));
    let buffers: Vec<(Var<T>, Tensor<T>)> = model
        .named_buffers()
        .into_iter()
        .map(|(_, b)| {
            let value = b.value();
            (b, value)
        })
        .collect();
    // Evaluation mode, so that no layer updates its statistics; every module's mode, and
    // every buffer a custom module may have changed, is put back afterwards.
    let mut modes = Vec::new();
    visit_modules(model, &mut |_, m| modes.push(m.is_training()));
    model.eval();
    let result = no_grad(|| visit(model, None, &input, &mut rows));
    let mut modes = modes.into_iter();
    visit_modules(model, &mut |_, m| {
        m.set_training(modes.next().unwrap_or(true))
    });
    for (buffer, before) in &buffers {
        let now = buffer.value();
        let ptr = |t: &Tensor<T>| t.as_slice().map(<[T]>::as_ptr);
        let untouched = ptr(&now).is_some() && ptr(&now) == ptr(before);
        if !untouched {
            // Same shape (buffers are only assigned values of their shape): cannot fail
            // for a leaf; a buffer that is not a leaf was not assigned either.
            let _ = buffer.set_value(before.clone());
        }
    }
    result?;
    let total_multiply_adds = rows.iter().map(|r| r.multiply_adds).sum();
    Ok(Summary {
        input_shape: input_shape.to_vec(),
        rows,
        total_params: model.num_parameters(),
        total_multiply_adds,
    })
}

fn visit<T: Float>(
    module: &dyn Module<T>,
    name: Option<&str>,
    input: &Var<T>,
    rows: &mut Vec<SummaryRow>,
) -> Result<Var<T>> {
    if module.type_name() == "Sequential" {
        let mut x = input.clone();
        for (child_name, child) in module.children() {
            let full = match name {
                Some(prefix) => format!("{prefix}.{child_name}"),
                None => child_name,
            };
            x = visit(child, Some(&full), &x, rows)?;
        }
        return Ok(x);
    }
    let (out, inner) = forward_counting_children(module, input)?;
    let shape = out.shape();
    rows.push(SummaryRow {
        name: name.unwrap_or(module.type_name()).to_string(),
        kind: module.type_name().to_string(),
        description: module.describe(),
        params: module.num_parameters(),
        multiply_adds: module.multiply_adds(&shape) + inner,
        output_shape: shape,
    });
    Ok(out)
}

/// `module.forward(input)` and the multiply-adds of the modules below it (a `Residual`'s
/// convs, a custom block's layers), from the output shapes each one produced when called
/// (through `call`, which runs forward hooks). Modules not called, or called directly
/// with `forward`, count nothing, as before.
/// Which module (address and type, as [`Module::identity`] gives them) produced an
/// output of which shape, logged by the hooks of [`forward_counting_children`].
type OutputLog = std::sync::Arc<std::sync::Mutex<Vec<((usize, &'static str), Vec<usize>)>>>;

fn forward_counting_children<T: Float>(
    module: &dyn Module<T>,
    input: &Var<T>,
) -> Result<(Var<T>, u64)> {
    let seen = OutputLog::default();
    let mut handles = Vec::new();
    let mut below = Vec::new();
    visit_modules(module, &mut |path, m| {
        let Some(address) = m.identity().filter(|_| !path.is_empty()) else {
            return;
        };
        let log = std::sync::Arc::clone(&seen);
        let hook = move |_: &Var<T>, y: &Var<T>| {
            if let Ok(mut log) = log.lock() {
                log.push((address, y.shape()));
            }
            Ok(None)
        };
        if let Ok(handle) = crate::ModuleExt::register_forward_hook(m, hook) {
            handles.push(handle);
            below.push((address, m));
        }
    });
    let out = module.forward(input);
    for handle in handles {
        handle.remove();
    }
    let seen = seen.lock().map(|v| v.clone()).unwrap_or_default();
    let inner = seen
        .iter()
        .filter_map(|(address, shape)| {
            let (_, m) = below.iter().find(|(a, _)| a == address)?;
            // Containers count through their own children.
            m.children().is_empty().then(|| m.multiply_adds(shape))
        })
        .sum();
    Ok((out?, inner))
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = "=".repeat(78);
        writeln!(f, "{line}")?;
        writeln!(
            f,
            "{:<28}{:<22}{:>12}{:>16}",
            "Layer (type)", "Output Shape", "Param #", "Mult-Adds"
        )?;
        writeln!(f, "{line}")?;
        writeln!(f, "{:<28}{:?}", "input", self.input_shape)?;
        for r in &self.rows {
            writeln!(
                f,
                "{:<28}{:<22}{:>12}{:>16}",
                format!("{} ({})", r.name, r.kind),
                format!("{:?}", r.output_shape),
                thousands(r.params as u64),
                thousands(r.multiply_adds)
            )?;
        }
        writeln!(f, "{line}")?;
        writeln!(f, "Total params: {}", thousands(self.total_params as u64))?;
        writeln!(
            f,
            "Total mult-adds: {}",
            thousands(self.total_multiply_adds)
        )?;
        write!(f, "{line}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn modules_below_a_residual_block_are_counted() {
        let block = crate::models::basic_block::<f32>(16, 32, 2);
        let table = summary(&block, &[2, 16, 28, 28]).unwrap();
        // conv1 3x3 16->32 and the 1x1 projection 16->32 at 14x14, conv2 3x3 32->32.
        let per_sample = 14 * 14 * 32 * (16 * 9 + 32 * 9 + 16);
        assert_eq!(table.total_multiply_adds, 2 * per_sample as u64);
    }

    use super::*;

    use crate::{BatchNorm2d, Sequential, load_state_dict, state_dict};

    /// A layer of another crate that counts its calls in a buffer.
    struct Counting(Var<f32>);
    impl Module<f32> for Counting {
        fn forward(&self, input: &Var<f32>) -> Result<Var<f32>> {
            self.0.set_value(self.0.value().add_scalar(1.0))?;
            Ok(input.clone())
        }
        fn type_name(&self) -> &'static str {
            "Counting"
        }
        fn own_buffers(&self) -> Vec<(String, Var<f32>)> {
            vec![("calls".into(), self.0.clone())]
        }
    }

    #[test]
    fn summary_leaves_every_buffer_as_it_was() {
        let model = Sequential::<f32>::new()
            .add_module("bn", BatchNorm2d::new(2))
            .add_module("count", Counting(Var::new(Tensor::scalar(0.0))));
        // A BatchNorm2d past 2^24 batches: the f32 buffer cannot show the exact count.
        let mut sd = state_dict(&model);
        sd.insert("bn.num_batches_tracked", Tensor::scalar(16_777_216.0));
        load_state_dict(&model, &sd, crate::Strict::Yes).unwrap();
        model
            .forward(&Var::new(Tensor::ones(&[2, 2, 2, 2])))
            .unwrap();
        let bn = |m: &Sequential<f32>| m.get("bn").unwrap().named_buffers();
        assert_eq!(bn(&model).len(), 3);
        let before = state_dict(&model);
        summary(&model, &[2, 2, 3, 3]).unwrap();
        assert!(state_dict(&model) == before);
        // And the exact count survived: one more batch counts from 2^24 + 1.
        model
            .forward(&Var::new(Tensor::ones(&[2, 2, 2, 2])))
            .unwrap();
        let count = model.get("count").unwrap().named_buffers()[0]
            .1
            .item()
            .unwrap();
        assert_eq!(count, 2.0);
        let tracked = bn(&model)[2].1.item().unwrap();
        assert_eq!(tracked, 16_777_218.0);
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
