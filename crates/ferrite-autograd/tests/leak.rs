//! The graph is freed after backward: no node outlives its training step.
//! (Alone in its own test binary, so that the process-wide node count is exact.)

use ferrite_autograd::{Var, live_nodes};
use ferrite_tensor::Tensor;

fn param(v: &[f64]) -> Var<f64> {
    Var::parameter(Tensor::from_vec(v.to_vec(), &[v.len()]).unwrap())
}

#[test]
fn the_graph_is_freed_after_each_step() {
    let w = param(&[0.5, -0.5, 0.25]);
    let step = || {
        let loss = w.mul(&w).unwrap().exp().unwrap().sum_all().unwrap();
        loss.backward().unwrap();
        w.zero_grad();
    };
    step();
    let after_first = live_nodes();
    for _ in 0..1000 {
        step();
    }
    // The only test in this binary: nothing else creates nodes meanwhile.
    assert_eq!(
        live_nodes(),
        after_first,
        "live nodes grew from {after_first} to {}",
        live_nodes()
    );
}
