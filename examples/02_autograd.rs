//! Step 2 of the tutorial: autograd. A small graph and its gradients (checked against the
//! derivatives worked out by hand), accumulation and `zero_grad`, `no_grad`, `detach`, a
//! freed graph, a gradient check by finite differences, and a picture of the graph of
//! conv1 -> ReLU -> sum, written to `runs/02_autograd/graph.dot`.
//!
//! Run with `cargo run --release --example 02_autograd`. It prints:
//!
//! ```text
//! z = [2.5, 4.5, 6.5], made by 'add'
//! loss = 22.9167 (shape [])
//! dloss/dw = 20.6667, dloss/db = 9.0000
//! x.grad() is None: true
//! after a second backward: dloss/db = 18 (accumulated)
//! after zero_grad: b.grad() is None: true
//! second backward through the same loss: backward: the graph through 'mean' was already freed by an earlier backward; compute the result again
//! under no_grad: requires_grad = false
//! through detach: dloss/dw = 13.5
//! gradcheck of sigmoid(a @ b): passed (144 Jacobian entries, max error 7.5e-11)
//! conv1 -> ReLU -> sum = 3.007460
//! wrote runs/02_autograd/graph.dot (6 nodes, 5 edges)
//! render it with: dot -Tsvg runs/02_autograd/graph.dot -o graph.svg
//! conv1.weight: grad shape [1, 1, 3, 3]
//! conv1.bias: grad shape [1]
//! ```

use std::path::Path;

use ferrite::autograd::to_dot_with_names;
use ferrite::prelude::*;

pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let g = a_small_graph()?;
    gradients_accumulate(&g)?;
    the_graph_is_freed(&g);
    no_grad_and_detach(&g)?;
    gradient_check()?;
    a_picture_of_the_graph()
}

/// The variables of the small graph, shared by the sections that follow it.
struct SmallGraph {
    x: Var<f64>,
    w: Var<f64>,
    b: Var<f64>,
    z: Var<f64>,
    loss: Var<f64>,
}

fn a_small_graph() -> Result<SmallGraph, Box<dyn std::error::Error>> {
    // --- A small graph ----------------------------------------------------------------
    // loss = mean((w·x + b)²) with x = [1, 2, 3] (data: a constant) and w = 2, b = 0.5
    // (parameters: we want their gradients). f64 so that the numbers below are exact.
    let x = Var::new(Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0], &[3])?);
    let w = Var::parameter(Tensor::<f64>::from_vec(vec![2.0], &[1])?);
    let b = Var::parameter(Tensor::<f64>::from_vec(vec![0.5], &[1])?);

    // Each op computes its value now and records how to send gradients back.
    let z = x.mul(&w)?.add(&b)?; // [2.5, 4.5, 6.5]   (w and b broadcast over x)
    let loss = z.mul(&z)?.mean(&[], false)?; // (6.25 + 20.25 + 42.25) / 3
    println!("z = {:?}, made by '{}'", z.value().to_vec(), z.op());
    println!("loss = {:.4} (shape {:?})", loss.item()?, loss.shape());

    // backward() walks the graph from the loss to the parameters (reverse creation order).
    loss.backward()?;
    let grad_w = w.grad().ok_or("w has no gradient")?.item()?;
    let grad_b = b.grad().ok_or("b has no gradient")?.item()?;
    println!("dloss/dw = {grad_w:.4}, dloss/db = {grad_b:.4}");
    // By hand: dloss/dw = mean(2 z x) = 2/3 (2.5 + 9 + 19.5) = 62/3; dloss/db = mean(2 z) = 9.
    assert!((grad_w - 62.0 / 3.0).abs() < 1e-12);
    assert!((grad_b - 9.0).abs() < 1e-12);
    // x is a constant: no gradient was computed for it.
    println!("x.grad() is None: {}", x.grad().is_none());
    Ok(SmallGraph { x, w, b, z, loss })
}

fn gradients_accumulate(g: &SmallGraph) -> Result<(), Box<dyn std::error::Error>> {
    // --- Gradients accumulate ---------------------------------------------------------
    // A second backward (through a freshly built graph) adds to .grad, as in PyTorch: that
    // is why a training loop calls zero_grad() before every backward.
    let again = g.x.mul(&g.w)?.add(&g.b)?;
    again.mul(&again)?.mean(&[], false)?.backward()?;
    println!(
        "after a second backward: dloss/db = {} (accumulated)",
        g.b.grad().ok_or("no gradient")?.item()?
    );
    g.b.zero_grad();
    println!(
        "after zero_grad: b.grad() is None: {}",
        g.b.grad().is_none()
    );
    Ok(())
}

fn the_graph_is_freed(g: &SmallGraph) {
    // --- The graph is freed by backward -----------------------------------------------
    // Like PyTorch without retain_graph: run the forward pass again instead.
    if let Err(e) = g.loss.backward() {
        println!("second backward through the same loss: {e}");
    }
}

fn no_grad_and_detach(g: &SmallGraph) -> Result<(), Box<dyn std::error::Error>> {
    // --- no_grad and detach -----------------------------------------------------------
    // Inside no_grad nothing is recorded (evaluation, optimizer updates).
    let y = no_grad(|| g.x.mul(&g.w))?;
    println!("under no_grad: requires_grad = {}", y.requires_grad());
    // detach() makes a constant with the same value: gradients stop there.
    let stopped = g.z.detach().mul(&g.w)?.sum_all()?;
    g.w.zero_grad();
    stopped.backward()?;
    // d/dw of sum(detach(z) · w) = sum(z) = 13.5: nothing flows back through z into w.
    println!(
        "through detach: dloss/dw = {}",
        g.w.grad().ok_or("no gradient")?.item()?
    );
    Ok(())
}

fn gradient_check() -> Result<(), Box<dyn std::error::Error>> {
    // --- Gradient check ---------------------------------------------------------------
    // gradcheck compares every entry of the Jacobian from backward() with central finite
    // differences (f(x + eps) - f(x - eps)) / 2 eps, in f64, with PyTorch's tolerances.
    let report = gradcheck(
        |v: &[Var<f64>]| v[0].matmul(&v[1])?.sigmoid(),
        &[
            Tensor::randn(&[2, 3], &mut seeded_rng(1)),
            Tensor::randn(&[3, 4], &mut seeded_rng(2)),
        ],
        &GradcheckOptions::default().with_input_names(&["a", "b"]),
    )?;
    println!(
        "gradcheck of sigmoid(a @ b): passed ({} Jacobian entries, max error {:.1e})",
        report.checked, report.max_abs_error
    );
    Ok(())
}

fn a_picture_of_the_graph() -> Result<(), Box<dyn std::error::Error>> {
    // --- A picture of the graph -------------------------------------------------------
    // conv1 (one 3x3 filter, stride 2) on a 9x9 image, then ReLU, then a sum.
    // Naming the layer "conv1" in a Sequential names its parameters "conv1.weight" and
    // "conv1.bias", and those names label the graph.
    // Same seed and order of draws as examples/conv1.rs: the same image, the same filter.
    manual_seed(0);
    let image = Var::new(with_default_rng(|rng| Tensor::randn(&[1, 1, 9, 9], rng)));
    let model: Sequential =
        Sequential::new().add_module("conv1", Conv2d::new(1, 1, 3).with_stride(2));
    let total = model.forward(&image)?.relu()?.sum_all()?;
    println!("conv1 -> ReLU -> sum = {:.6}", total.item()?);

    // Export before backward(): backward frees the graph as it walks it.
    let mut names = model.named_parameters();
    names.push(("input".to_string(), image.clone()));
    let dot = to_dot_with_names(&total, &names);
    let path = Path::new("runs/02_autograd/graph.dot");
    std::fs::create_dir_all(path.parent().ok_or("no parent directory")?)?;
    std::fs::write(path, &dot)?;
    println!(
        "wrote {} ({} nodes, {} edges)",
        path.display(),
        dot.matches(" [label=").count(),
        dot.matches(" -> ").count()
    );
    println!("render it with: dot -Tsvg {} -o graph.svg", path.display());

    total.backward()?;
    for (name, p) in model.named_parameters() {
        println!(
            "{name}: grad shape {:?}",
            p.grad().ok_or("no gradient")?.shape()
        );
    }
    Ok(())
}
