// Private to src/methods: a state that is a linear classifier over embeddings, softmax(scale x . w_c)
// over C x D class proxies (zero-shot text proxies, InMaP's vision proxies).
#pragma once

#include <utility>

#include "clipzs/methods/method.hpp"

namespace clipzs {

class ProxyClassifierState : public MethodState {
 public:
  ProxyClassifierState(std::string method, nlohmann::json record, std::vector<std::string> classnames, Matrix proxies, float scale)
      : MethodState(std::move(method), std::move(record), std::move(classnames)), proxies_(std::move(proxies)), scale_(scale) {}
  float logit_scale() const override { return scale_; }
  const Matrix* class_proxies() const override { return &proxies_; }
  Predictions predict(const ImageEmbeddings& images, int top_k, const std::string& variant = "") const override;

 private:
  Matrix proxies_;
  float scale_;
};

}  // namespace clipzs
